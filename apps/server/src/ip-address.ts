/**
 * @module IP addresses parsed to one canonical form, so that every spelling of an address compares
 * equal: `0:0:0:0:0:0:0:1` is `::1`, `::ffff:10.1.1.1` is `10.1.1.1`, `[2001:db8::c]:443` is
 * `2001:db8::c`. Addresses are held as 16 bytes (IPv4 as IPv4-mapped IPv6), which also makes
 * prefix ranges (`10.0.0.0/8`, `2001:db8::/32`) one comparison.
 */

/** An address as 16 bytes; IPv4 addresses are IPv4-mapped (`::ffff:a.b.c.d`). */
export type Address = Uint8Array

/** An address range: the first `prefixBits` bits of `base`. */
export interface AddressRange {
  readonly base: Address
  readonly prefixBits: number
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]

/** Parses a bare IPv4 or IPv6 address (no brackets, no port, no zone); null when malformed. */
export function parseAddress(text: string): Address | null {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text)
}

/**
 * Parses an address as proxies write it in `X-Forwarded-For` or as an operator writes it:
 * optionally in brackets, optionally with a port (`1.2.3.4:5678`, `[::1]:443`, `[::1]`).
 */
export function parseAddressWithPort(text: string): Address | null {
  const t = text.trim()
  if (t.startsWith('[')) {
    const end = t.indexOf(']')
    if (end < 0) return null
    const rest = t.slice(end + 1)
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return null
    return parseIpv6(t.slice(1, end))
  }
  // One colon: IPv4 with a port. More: a bare IPv6 address (whose last group may look like a port).
  const colon = t.indexOf(':')
  if (colon >= 0 && colon === t.lastIndexOf(':')) return /^\d{1,5}$/.test(t.slice(colon + 1)) ? parseIpv4(t.slice(0, colon)) : null
  return parseAddress(t)
}

/** Parses `address` or `address/prefix`; null when malformed. */
export function parseAddressRange(text: string): AddressRange | null {
  const slash = text.indexOf('/')
  const base = parseAddressWithPort(slash < 0 ? text : text.slice(0, slash))
  if (base === null) return null
  const bits = isV4(base) ? 32 : 128
  if (slash < 0) return { base, prefixBits: 128 }
  const prefix = text.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) return null
  return { base, prefixBits: Number(prefix) + (128 - bits) }
}

export function rangeContains(range: AddressRange, address: Address): boolean {
  const full = range.prefixBits >> 3
  for (let i = 0; i < full; i++) if (range.base[i] !== address[i]) return false
  const rest = range.prefixBits & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return (range.base[full]! & mask) === (address[full]! & mask)
}

/** The canonical text of an address: dotted IPv4, or RFC 5952 IPv6 (lower case, longest zero run as `::`). */
export function formatAddress(address: Address): string {
  if (isV4(address)) return `${address[12]}.${address[13]}.${address[14]}.${address[15]}`
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((address[i]! << 8) | address[i + 1]!)
  return formatGroups(groups)
}

/** The /64 an IPv6 address belongs to, as `2001:db8:1:2::/64`; an IPv4 address as itself. */
export function formatNetwork64(address: Address): string {
  if (isV4(address)) return formatAddress(address)
  const network = new Uint8Array(16)
  network.set(address.subarray(0, 8))
  return `${formatAddress(network)}/64`
}

function isV4(address: Address): boolean {
  for (let i = 0; i < 12; i++) if (address[i] !== V4_MAPPED_PREFIX[i]) return false
  return true
}

// --- Internal helpers ---

function parseIpv4(text: string): Address | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  const address = new Uint8Array(16)
  address.set(V4_MAPPED_PREFIX)
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!
    // No leading zeros: `010` would be octal to some parsers and decimal to others.
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return null
    address[12 + i] = Number(part)
  }
  return address
}

function parseIpv6(text: string): Address | null {
  if (text === '' || text.includes('%')) return null
  const halves = text.split('::')
  if (halves.length > 2) return null
  const groupsOf = (half: string): number[] | null => {
    if (half === '') return []
    const out: number[] = []
    const pieces = half.split(':')
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece)
        if (v4 === null) return null
        out.push((v4[12]! << 8) | v4[13]!, (v4[14]! << 8) | v4[15]!)
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(piece)) return null
        out.push(parseInt(piece, 16))
      }
    }
    return out
  }
  const head = groupsOf(halves[0]!)
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : []
  if (head === null || tail === null) return null
  // A dotted quad may only end the address.
  if (halves.length === 2 && halves[0]!.includes('.')) return null
  const missing = 8 - head.length - tail.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null
  const groups = [...head, ...new Array<number>(halves.length === 1 ? 0 : missing).fill(0), ...tail]
  const address = new Uint8Array(16)
  groups.forEach((g, i) => {
    address[2 * i] = g >> 8
    address[2 * i + 1] = g & 0xff
  })
  return address
}

function formatGroups(groups: number[]): string {
  // The longest run of two or more zero groups (the first, on a tie) becomes `::`.
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}
