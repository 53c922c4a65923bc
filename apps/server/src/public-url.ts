/**
 * @module The absolute base URL clients see, for the `url` we hand out on create. Configured, or
 * taken from the request; X-Forwarded-Proto/Host count only when they come from a trusted proxy.
 */

import type { ServerConfig, TrustProxy } from './config.ts'

/** True when the peer that sent this request is a proxy we were told to trust. */
export function isTrustedProxy(trust: TrustProxy, peerAddress: string | null): boolean {
  switch (trust.kind) {
    case 'off':
      return false
    case 'hops':
      return true
    case 'addresses':
      return peerAddress !== null && trust.addresses.includes(normalizeAddress(peerAddress))
  }
}

/** `https://host[:port][/path]` without trailing slash. */
export function publicBaseUrl(request: Request, config: ServerConfig, peerAddress: string | null): string {
  if (config.publicBaseUrl !== null) return config.publicBaseUrl
  const url = new URL(request.url)
  let proto = url.protocol.slice(0, -1)
  let host = url.host
  if (isTrustedProxy(config.trustProxy, peerAddress)) {
    const forwardedProto = firstListValue(request.headers.get('x-forwarded-proto'))
    const forwardedHost = firstListValue(request.headers.get('x-forwarded-host'))
    if (forwardedProto === 'http' || forwardedProto === 'https') proto = forwardedProto
    if (forwardedHost && /^[A-Za-z0-9.\-:[\]]+$/.test(forwardedHost)) host = forwardedHost
  }
  return `${proto}://${host}`
}

/** The client-most value of a comma-separated forwarded header, lower-cased and trimmed. */
function firstListValue(value: string | null): string | null {
  if (value === null) return null
  const first = value.split(',')[0]!.trim().toLowerCase()
  return first === '' ? null : first
}

/** Bun reports IPv4 peers on a dual-stack socket as `::ffff:a.b.c.d`. */
function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address
}
