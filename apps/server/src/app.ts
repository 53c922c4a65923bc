/**
 * @module `createApp({ store, config })` builds the Elysia app. It never listens and never reads the
 * environment: `main.ts` does that, and tests build apps of their own.
 */

import { Elysia } from 'elysia'
import type { RendezvousStore } from '@rendezvous/store'
import type { ServerConfig } from './config.ts'
import { type Logger, stderrLogger } from './log.ts'
import { publicBaseUrl } from './public-url.ts'
import { rendezvousHandlers } from './rendezvous.ts'
import { errorResponse, jsonResponse, preflightResponse } from './responses.ts'

export interface AppOptions {
  readonly store: RendezvousStore
  readonly config: ServerConfig
  /** @default JSON lines on stderr */
  readonly logger?: Logger
  /**
   * Aborted when the process starts shutting down: held long-polls are answered at once and
   * `/ready` reports draining. @default never aborted
   */
  readonly shutdownSignal?: AbortSignal
}

/** Bun's upper bound for a connection's idle timeout, in seconds. */
const BUN_MAX_IDLE_TIMEOUT = 255

/** Options for `app.listen` that follow from the config; main.ts and the tests both use them. */
export function listenOptions(config: ServerConfig) {
  return {
    hostname: config.host,
    port: config.port,
    // A held long-poll must outlive its wait: the connection may sit idle that long.
    idleTimeout: Math.min(BUN_MAX_IDLE_TIMEOUT, config.maxWaitSeconds + 15),
    // Our own reader enforces max_bytes (with a JSON 413, before or while reading); Bun must not
    // answer first with a bare 413 of its own.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  }
}

const CREATE_ALLOW = 'POST, OPTIONS'
const RENDEZVOUS_ALLOW = 'GET, HEAD, PUT, DELETE, OPTIONS'

/** Bodies are read by our own size-limited reader, never parsed by the framework. */
const RAW_BODY = { parse: 'none' } as const

export function createApp({ store, config, logger = stderrLogger, shutdownSignal = new AbortController().signal }: AppOptions) {
  const rendezvous = rendezvousHandlers(store, config, { shutdownSignal })
  const { prefix } = config

  const app = new Elysia()
    // A CORS preflight gets the same answer on every path, known or not.
    .onRequest(({ request }) => (request.method === 'OPTIONS' ? preflightResponse() : undefined))
    .onError(({ code, error }) => {
      if (code === 'NOT_FOUND') return errorResponse('unknown_route')
      if (code === 'PARSE' || code === 'VALIDATION') return errorResponse('invalid_param')
      logger.log('error', 'unhandled error', { code, error: error instanceof Error ? error.message : String(error) })
      return errorResponse('internal')
    })
    .get('/health', () => jsonResponse(200, { status: 'ok' }))
    .get('/ready', () =>
      shutdownSignal.aborted ? jsonResponse(503, { status: 'draining' }) : jsonResponse(200, { status: 'ready' }),
    )

  // Elysia matches `/prefix` and `/prefix/` alike; only the relative Location differs between them.
  app.all(
    prefix,
    ({ request, server }) => {
      if (request.method !== 'POST') return errorResponse('method_not_allowed', { allow: CREATE_ALLOW })
      const peerAddress = server?.requestIP(request)?.address ?? null
      return rendezvous.create(request, publicBaseUrl(request, config, peerAddress), locationBase(request.url))
    },
    RAW_BODY,
  )

  app.all(
    `${prefix}:id`,
    ({ request, params }) => {
      // The path is built at run time, so Elysia cannot type its parameters.
      const id = (params as Record<string, string>)['id'] ?? ''
      switch (request.method) {
        case 'GET':
        case 'HEAD':
          return rendezvous.read(request, id)
        case 'PUT':
          return rendezvous.update(request, id)
        case 'DELETE':
          return rendezvous.remove(id)
        default:
          return errorResponse('method_not_allowed', { allow: RENDEZVOUS_ALLOW })
      }
    },
    RAW_BODY,
  )

  return app
}

export type App = ReturnType<typeof createApp>

/**
 * What goes before the id in a relative `Location`: nothing when the POST URL's path ends in `/`,
 * else its last segment and a slash, so that `rz/<id>` resolves against `/rz` to `/rz/<id>`.
 */
function locationBase(url: string): string {
  const { pathname } = new URL(url)
  return pathname.endsWith('/') ? '' : `${pathname.slice(pathname.lastIndexOf('/') + 1)}/`
}
