/**
 * @module Test harness: a real listening Bun server on 127.0.0.1 with a fresh in-memory store, and
 * a raw-socket client for requests `fetch` refuses to send.
 */

import { connect } from 'node:net'
import { MemoryStore } from '@rendezvous/store'
import { type App, createApp, listenOptions } from '../src/app.ts'
import { type ServerConfig, loadConfig } from '../src/config.ts'
import type { TokenVerifier } from '../src/create-auth.ts'
import { type Logger, silentLogger } from '../src/log.ts'
import { renderFamilies } from '../src/metric-families.ts'

export interface TestServer {
  /** `http://127.0.0.1:<port>` without trailing slash. */
  readonly origin: string
  /** origin + prefix, ending in `/`: where `POST` creates and ids are appended. */
  readonly base: string
  readonly port: number
  readonly config: ServerConfig
  readonly store: MemoryStore
  /** The app itself, to enumerate its routes. */
  readonly app: App
  /** Starts the shutdown sequence of main.ts: held long-polls are answered, /ready says draining. */
  beginShutdown(): void
  /** What the metrics listener would answer for this server (it has none of its own here). */
  metrics(): Promise<string>
  close(): Promise<void>
}

/**
 * Starts a server from the defaults, overridden by `env` (the same variables main.ts reads). Rate
 * limits are off unless `env` turns them on: tests of other behaviour send bursts no client would.
 */
export async function startServer(
  env: Record<string, string> = {},
  logger: Logger = silentLogger,
  tokenVerifier: TokenVerifier | null = null,
): Promise<TestServer> {
  const loaded = loadConfig(
    {
      HOST: '127.0.0.1',
      PORT: '0',
      RENDEZVOUS_METRICS_LISTEN: 'off',
      RENDEZVOUS_RATE_LIMIT: 'off',
      RENDEZVOUS_CREATE_RATE_LIMIT: 'off',
      RENDEZVOUS_MAX_IN_FLIGHT_PER_CLIENT: 'off',
      ...env,
    },
    [],
  )
  if (loaded.kind !== 'config') throw new Error(`bad test config: ${JSON.stringify(loaded)}`)
  const { config } = loaded
  const store = new MemoryStore({
    ttlMs: config.ttlSeconds * 1000,
    maxSessions: config.maxSessions,
    maxTotalBytes: config.maxTotalBytes,
    sweepIntervalMs: 100,
  })
  const shutdown = new AbortController()
  const app = createApp({ store, config, logger, shutdownSignal: shutdown.signal, tokenVerifier })
  app.listen(listenOptions(config))
  const port = app.server!.port!
  const origin = `http://127.0.0.1:${port}`
  return {
    origin,
    base: `${origin}${config.prefix}`,
    port,
    config,
    store,
    app,
    beginShutdown: () => shutdown.abort(),
    metrics: async () => renderFamilies(await app.observability.families()),
    async close() {
      await app.stop(true)
      await store.close()
    },
  }
}

export interface Created {
  readonly id: string
  readonly url: string
  readonly etag: string
  readonly response: Response
}

/**
 * POSTs a new rendezvous to `server.base` (a test server, a spawned process, a proxy in front of
 * one) and returns its id and ETag; fails the test unless it was a 200.
 */
export async function create(server: { readonly base: string }, body: BodyInit = 'hello', contentType?: string): Promise<Created> {
  const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {}
  const response = await fetch(server.base, { method: 'POST', body, headers })
  if (response.status !== 200) throw new Error(`create failed: ${response.status} ${await response.text()}`)
  const json = (await response.clone().json()) as { id: string; url: string }
  return { id: json.id, url: json.url, etag: response.headers.get('etag')!, response }
}

/** A streamed body, so fetch sends it with Transfer-Encoding: chunked and no Content-Length. */
export function chunked(bytes: Uint8Array, chunkSize = 1000): ReadableStream<Uint8Array> {
  let offset = 0
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close()
      controller.enqueue(bytes.slice(offset, offset + chunkSize))
      offset += chunkSize
    },
  })
}

export interface RawResponse {
  readonly status: number
  readonly head: string
  readonly text: string
}

/**
 * Sends `raw` bytes over a fresh TCP connection and returns what came back before the server
 * closed the connection or `timeoutMs` passed. Status is 0 when nothing parseable came back.
 */
export function rawRequest(port: number, raw: string | Uint8Array, timeoutMs = 1500): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const finish = () => {
      clearTimeout(timer)
      socket.destroy()
      const text = Buffer.concat(chunks).toString('latin1')
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      resolve({ status: match ? Number(match[1]) : 0, head: text.split('\r\n\r\n')[0] ?? '', text })
    }
    const timer = setTimeout(finish, timeoutMs)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', finish)
    socket.on('error', finish)
    socket.on('connect', () => socket.write(raw))
  })
}

export function bytes(text: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new TextEncoder().encode(text))
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
