/**
 * @module The absolute base URL clients see, for the `url` we hand out on create. Configured, or
 * taken from the request; X-Forwarded-Proto/Host count only when they come from a trusted proxy.
 */

import { Header } from '@rendezvous/protocol'
import { isTrustedProxy } from './client-address.ts'
import type { ServerConfig } from './config.ts'

/** `https://host[:port][/path]` without trailing slash. */
export function publicBaseUrl(request: Request, config: ServerConfig, peerAddress: string | null): string {
  if (config.publicBaseUrl !== null) return config.publicBaseUrl
  // request.url is absolute (`http://host:port/path`): its origin ends at the first `/` after `//`.
  const url = request.url
  const schemeEnd = url.indexOf('://')
  const pathStart = url.indexOf('/', schemeEnd + 3)
  let proto = url.slice(0, schemeEnd)
  let host = url.slice(schemeEnd + 3, pathStart < 0 ? url.length : pathStart)
  if (isTrustedProxy(config.trustProxy, peerAddress)) {
    const forwardedProto = firstListValue(request.headers.get(Header.xForwardedProto))
    const forwardedHost = firstListValue(request.headers.get(Header.xForwardedHost))
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
