/**
 * @module The metrics listener (`RENDEZVOUS_METRICS_LISTEN`, default 127.0.0.1:9108): `/metrics`
 * and `/health` on an address of their own. The public listener has no `/metrics` in any spelling,
 * so no proxy rule has to keep it private. With workers the supervisor serves it and asks every
 * worker over IPC, so one scrape answers for the whole group.
 */

import { Header } from '@rendezvous/protocol'
import type { MetricsListen } from './config.ts'
import { EXPOSITION_CONTENT_TYPE, type Family, renderFamilies } from './metric-families.ts'

export interface MetricsListener {
  readonly url: string
  stop(): void
}

/** Listens on `listen`; throws when the address cannot be had (in use, not ours). */
export function serveMetrics(listen: Extract<MetricsListen, { kind: 'listen' }>, families: () => Promise<Family[]>): MetricsListener {
  const server = Bun.serve({
    hostname: listen.host,
    port: listen.port,
    reusePort: false,
    async fetch(request) {
      const { pathname } = new URL(request.url)
      if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } })
      if (pathname === '/metrics') {
        return new Response(renderFamilies(await families()), { headers: { [Header.contentType]: EXPOSITION_CONTENT_TYPE, [Header.cacheControl]: 'no-store' } })
      }
      if (pathname === '/health') return Response.json({ status: 'ok' })
      return new Response('not found: this listener serves /metrics and /health\n', { status: 404 })
    },
  })
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host
  return { url: `http://${host}:${server.port}/metrics`, stop: () => void server.stop(true) }
}
