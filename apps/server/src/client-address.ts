/**
 * @module Who is asking: the peer address, or behind a trusted proxy the forwarded client address.
 * X-Forwarded-* is never believed unless the peer is a proxy we were told to trust. Every address
 * is compared in canonical form (`ip-address.ts`), whatever spelling, brackets or port it came in.
 */

import type { TrustProxy } from './config.ts'
import { type Address, formatAddress, formatNetwork64, parseAddressWithPort, rangeContains } from './ip-address.ts'

/** The key used for a peer whose address is unknown (the app is not listening on a socket). */
const UNKNOWN = 'unknown'

/** True when the peer that sent this request is a proxy we were told to trust. */
export function isTrustedProxy(trust: TrustProxy, peerAddress: string | null): boolean {
  switch (trust.kind) {
    case 'off':
      return false
    case 'hops':
      return true
    case 'addresses': {
      const peer = peerAddress === null ? null : parseAddressWithPort(peerAddress)
      return peer !== null && isTrusted(trust, peer)
    }
  }
}

/**
 * The canonical address to hold responsible for a request. With `hops: N`, the client is the
 * address N entries from the right of the peer appended to X-Forwarded-For (the peer being the
 * nearest proxy); with an address list, the right-most address that is not a trusted proxy. An
 * entry that is not an address (`unknown`, garbage) cannot be held responsible: the nearest
 * readable hop after it is.
 */
export function clientAddress(trust: TrustProxy, peerAddress: string | null, forwardedFor: string | null): string {
  const client = responsibleAddress(trust, peerAddress, forwardedFor)
  return typeof client === 'string' ? client : formatAddress(client)
}

/** `rateLimitKey(clientAddress(…))`, without formatting the address only to parse it again. */
export function clientRateLimitKey(trust: TrustProxy, peerAddress: string | null, forwardedFor: string | null): string {
  const client = responsibleAddress(trust, peerAddress, forwardedFor)
  return typeof client === 'string' ? client : formatNetwork64(client)
}

/** What `clientAddress` describes, parsed; the peer as given (or `unknown`) when it is no address. */
function responsibleAddress(trust: TrustProxy, peerAddress: string | null, forwardedFor: string | null): Address | string {
  const peer = peerAddress === null ? null : parseAddressWithPort(peerAddress)
  if (peer === null) return peerAddress ?? UNKNOWN
  if (forwardedFor === null || trust.kind === 'off' || (trust.kind === 'addresses' && !isTrusted(trust, peer))) return peer
  const chain: (Address | null)[] = forwardedFor.split(',').map((entry) => parseAddressWithPort(entry))
  chain.push(peer)
  let index: number
  if (trust.kind === 'hops') {
    index = Math.max(0, chain.length - 1 - trust.hops)
  } else {
    index = chain.length - 1
    while (index > 0 && chain[index] !== null && isTrusted(trust, chain[index]!)) index--
  }
  while (chain[index] === null) index++
  return chain[index]!
}

/**
 * The key a client is rate-limited under: the IPv4 address, or the /64 of an IPv6 address (one
 * subscriber usually holds a whole /64, so per-address keys would be free to multiply).
 */
export function rateLimitKey(address: string): string {
  const parsed = parseAddressWithPort(address)
  return parsed === null ? address : formatNetwork64(parsed)
}

function isTrusted(trust: Extract<TrustProxy, { kind: 'addresses' }>, address: Address): boolean {
  return trust.ranges.some((range) => rangeContains(range, address))
}
