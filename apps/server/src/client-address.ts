/**
 * @module Who is asking: the peer address, or behind a trusted proxy the forwarded client address.
 * X-Forwarded-* is never believed unless the peer is a proxy we were told to trust.
 */

import type { TrustProxy } from './config.ts'

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

/**
 * The address to hold responsible for a request. With `hops: N`, the client is the address N
 * entries from the right of `peer` appended to X-Forwarded-For (the peer being the nearest proxy);
 * with an address list, the right-most address that is not a trusted proxy.
 */
export function clientAddress(trust: TrustProxy, peerAddress: string | null, forwardedFor: string | null): string {
  const peer = normalizeAddress(peerAddress ?? 'unknown')
  if (forwardedFor === null || !isTrustedProxy(trust, peerAddress)) return peer
  const chain = [...forwardedFor.split(',').map((a) => normalizeAddress(a.trim())), peer].filter((a) => a !== '')
  if (trust.kind === 'hops') return chain[Math.max(0, chain.length - 1 - trust.hops)]!
  if (trust.kind !== 'addresses') return peer
  for (let i = chain.length - 1; i >= 0; i--) {
    if (!trust.addresses.includes(chain[i]!)) return chain[i]!
  }
  return chain[0]!
}

/**
 * The key a client is rate-limited under: the IPv4 address, or the /64 of an IPv6 address (one
 * subscriber usually holds a whole /64, so per-address keys would be free to multiply).
 */
export function rateLimitKey(address: string): string {
  if (!address.includes(':')) return address
  const groups = expandIpv6(address)
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : address
}

/** Bun reports IPv4 peers on a dual-stack socket as `::ffff:a.b.c.d`. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

function expandIpv6(address: string): string[] | null {
  const [head = '', tail] = address.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const missing = 8 - left.length - right.length
  if (tail === undefined ? left.length !== 8 : missing < 0) return null
  const groups = [...left, ...new Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right]
  if (!groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return null
  return groups.map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
}
