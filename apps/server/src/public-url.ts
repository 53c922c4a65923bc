/**
 * @module The absolute base URL clients see, for the URLs we hand out on create. Configured, or
 * taken from the request; X-Forwarded-Proto/Host count only when they come from a trusted proxy.
 */

import { Header } from '@rendezvous/protocol'
import { isTrustedProxy } from './client-address.ts'
import type { ServerConfig } from './config.ts'

/**
 * `https://host[:port][/path]` without trailing slash, or null when the request names no host
 * (HTTP/1.0 without `Host`, or an empty one) and none is configured: no URL can be built for it.
 */
export function publicBaseUrl(url: string, headers: Headers, config: ServerConfig, peerAddress: string | null): string | null {
  if (config.publicBaseUrl !== null) return config.publicBaseUrl
  // A request's URL is `http://host:port/path`, or just `/path` when the request carried no Host.
  const schemeEnd = url.indexOf('://')
  let proto = 'http'
  let host = ''
  if (schemeEnd > 0) {
    const pathStart = url.indexOf('/', schemeEnd + 3)
    proto = url.slice(0, schemeEnd)
    host = url.slice(schemeEnd + 3, pathStart < 0 ? url.length : pathStart)
  }
  if (isTrustedProxy(config.trustProxy, peerAddress)) {
    const forwardedProto = firstListValue(headers.get(Header.xForwardedProto))
    const forwardedHost = firstListValue(headers.get(Header.xForwardedHost))
    if (forwardedProto === 'http' || forwardedProto === 'https') proto = forwardedProto
    if (forwardedHost && /^[A-Za-z0-9.\-:[\]]+$/.test(forwardedHost)) host = forwardedHost
  }
  return host === '' ? null : `${proto}://${host}`
}

/** The client-most value of a comma-separated forwarded header, lower-cased and trimmed. */
function firstListValue(value: string | null): string | null {
  if (value === null) return null
  const first = value.split(',')[0]!.trim().toLowerCase()
  return first === '' ? null : first
}
