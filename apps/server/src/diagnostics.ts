/**
 * @module Two small endpoints for operators and their tools (the doctor), under the prefix so they
 * go wherever a proxy sends the API:
 * - `GET <prefix>_rendezvous/info`: the version and the settings that shape the wire (`ServerInfo`);
 * - `GET <prefix>_rendezvous/probe`: a short text sent in two parts a second apart, so a client can
 *   tell whether something on the way holds answers back instead of passing them on as they come.
 */

import { Header, type ServerInfo } from '@rendezvous/protocol'
import serverPackage from '../package.json' with { type: 'json' }
import type { ServerConfig } from './config.ts'
import { commonHeaders, jsonResponse } from './responses.ts'

export const SERVER_VERSION: string = serverPackage.version

/** Paths under the prefix: `_` cannot start one of our ids' two-segment paths, so nothing collides. */
export const INFO_PATH = '_rendezvous/info'
export const PROBE_PATH = '_rendezvous/probe'
/** How far apart the probe's two parts are sent. */
const PROBE_GAP_MS = 1000

export function serverInfo(config: ServerConfig, storeName: string): ServerInfo {
  return {
    server: 'rendezvous',
    version: SERVER_VERSION,
    prefix: config.prefix,
    max_bytes: config.maxBytes,
    max_wait_seconds: config.maxWaitSeconds,
    ttl_seconds: config.ttlSeconds,
    store: storeName === 'redis' ? 'redis' : 'memory',
    create_auth: config.createAuth.kind,
    create_auth_open: [...config.createAuthOpen],
    trust_proxy: config.trustProxy.kind,
    public_base_url: config.publicBaseUrl,
  }
}

export function infoResponse(info: ServerInfo): Response {
  return jsonResponse(200, info)
}

const encoder = new TextEncoder()

/** The probe: its first part at once, its second `PROBE_GAP_MS` later. */
export function probeResponse(): Response {
  let timer: ReturnType<typeof setTimeout> | undefined
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode('first part, sent at once\n'))
      timer = setTimeout(() => {
        controller.enqueue(encoder.encode('second part, sent a second later\n'))
        controller.close()
      }, PROBE_GAP_MS)
    },
    cancel() {
      clearTimeout(timer)
    },
  })
  const headers = commonHeaders()
  headers.set(Header.contentType, 'text/plain; charset=utf-8')
  return new Response(body, { status: 200, headers })
}
