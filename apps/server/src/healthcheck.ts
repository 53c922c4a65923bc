/**
 * @module `rendezvous healthcheck`: asks the server on this machine whether it is ready (`/ready`
 * on the configured port) and exits 0 when it answers 200, 1 otherwise; for an image's health
 * check and a Kubernetes exec probe, where there is no shell and no curl. It takes the server's own
 * settings (`PORT`, `HOST`, the same flags), so it asks where the server listens.
 */

import type { ServerConfig } from './config.ts'

/** How long the server may take to answer before it counts as unhealthy. */
const TIMEOUT_MS = 2000

export async function runHealthcheck(config: Pick<ServerConfig, 'host' | 'port'>): Promise<number> {
  // A server bound to every address answers on loopback.
  const host =
    config.host === '0.0.0.0' || config.host === ''
      ? '127.0.0.1'
      : config.host === '::'
        ? '[::1]'
        : config.host.includes(':')
          ? `[${config.host}]`
          : config.host
  const url = `http://${host}:${config.port}/ready`
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
    const body = await response.text()
    if (response.status === 200) return 0
    console.error(`rendezvous healthcheck: ${url} answered ${response.status} ${body.slice(0, 200)}`)
    return 1
  } catch (error) {
    console.error(`rendezvous healthcheck: ${url}: ${(error as Error).message}`)
    return 1
  }
}
