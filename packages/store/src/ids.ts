/**
 * @module Rendezvous ids and entity-tags. Web Crypto only, so every runtime can use it.
 */

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const ID_BYTES = 16
/** Random bytes fetched per call into the CSPRNG; ids are cut from this pool. */
const POOL_BYTES = ID_BYTES * 256

let pool = new Uint8Array(0)
let poolOffset = 0

/** A fresh rendezvous id: 128 bits from the CSPRNG as 22 base64url characters. */
export function newRendezvousId(): string {
  if (poolOffset + ID_BYTES > pool.length) {
    pool = crypto.getRandomValues(new Uint8Array(POOL_BYTES))
    poolOffset = 0
  }
  const id = encodeBase64Url(pool, poolOffset, ID_BYTES)
  // Each id's bytes are used once: wipe them so no later reader of the pool could see them.
  pool.fill(0, poolOffset, poolOffset + ID_BYTES)
  poolOffset += ID_BYTES
  return id
}

/**
 * Issues entity-tags that never repeat: a random prefix drawn once per issuer (so two processes
 * sharing a store never collide) followed by a counter. Identical payloads, on one rendezvous or
 * on two, always get different tags.
 */
export class EtagIssuer {
  /** `"` + the random prefix + `.`, as character codes; the counter's digits follow. */
  readonly #head: number[]
  #counter = 0

  constructor() {
    const prefix = encodeBase64Url(crypto.getRandomValues(new Uint8Array(9)), 0, 9)
    this.#head = [...`"${prefix}.`].map((c) => c.charCodeAt(0))
  }

  next(): string {
    this.#counter++
    const codes = [...this.#head]
    for (const digit of this.#counter.toString(36)) codes.push(digit.charCodeAt(0))
    codes.push(QUOTE)
    // One flat string, not a concatenation: a rope costs about 100 bytes more per stored tag.
    return String.fromCharCode(...codes)
  }
}

const QUOTE = 0x22

/**
 * base64url without padding of `length` bytes of `bytes` starting at `offset`, built as one flat
 * string from character codes (ids live as long as their rendezvous; concatenation would leave
 * each as a rope of many small strings).
 */
export function encodeBase64Url(bytes: Uint8Array, offset: number, length: number): string {
  const codes: number[] = []
  const end = offset + length
  let i = offset
  for (; i + 3 <= end; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    codes.push(ALPHABET[n >> 18]!, ALPHABET[(n >> 12) & 63]!, ALPHABET[(n >> 6) & 63]!, ALPHABET[n & 63]!)
  }
  const rest = end - i
  if (rest === 1) {
    const n = bytes[i]! << 16
    codes.push(ALPHABET[n >> 18]!, ALPHABET[(n >> 12) & 63]!)
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8)
    codes.push(ALPHABET[n >> 18]!, ALPHABET[(n >> 12) & 63]!, ALPHABET[(n >> 6) & 63]!)
  }
  return String.fromCharCode(...codes)
}

const ALPHABET = Uint8Array.from(BASE64URL, (c) => c.charCodeAt(0))
