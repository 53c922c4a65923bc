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
 *
 * A tag is fully named by its counter value (its serial), so a store may keep the serial, a number
 * inside its record, and spell the tag out only when it is asked for: `format(serial)`.
 */
export class EtagIssuer {
  /** `"` + the random prefix + `.`, then room for the counter's digits and the closing quote. */
  readonly #bytes = new Uint8Array(ETAG_HEAD_LENGTH + MAX_COUNTER_DIGITS + 1)
  #counter = 0
  #lastSerial = 0
  #lastFormatted = ''

  constructor() {
    const prefix = encodeBase64Url(crypto.getRandomValues(new Uint8Array(9)), 0, 9)
    for (const [i, c] of [...`"${prefix}.`].entries()) this.#bytes[i] = c.charCodeAt(0)
  }

  /** A fresh serial: a positive integer this issuer has not handed out before. */
  nextSerial(): number {
    return ++this.#counter
  }

  /**
   * The quoted entity-tag a serial from `nextSerial` names. The last one is kept: a request asks
   * for the same tag several times in a row (to compare, then to answer with).
   */
  format(serial: number): string {
    if (serial === this.#lastSerial) return this.#lastFormatted
    let end = ETAG_HEAD_LENGTH
    const digits = serial.toString(36)
    for (let i = 0; i < digits.length; i++) this.#bytes[end++] = digits.charCodeAt(i)
    this.#bytes[end++] = QUOTE
    this.#lastSerial = serial
    this.#lastFormatted = flatString(this.#bytes, end)
    return this.#lastFormatted
  }

  next(): string {
    return this.format(this.nextSerial())
  }
}

const QUOTE = 0x22
/** `"`, 12 base64url characters, `.` */
const ETAG_HEAD_LENGTH = 14
/** Digits of 2^53 in base 36. */
const MAX_COUNTER_DIGITS = 11

const ascii = new TextDecoder()
/** Where short strings are assembled before decoding (ids are 22 bytes). */
const scratch = new Uint8Array(64)

/**
 * The first `length` bytes (all ASCII) of `bytes` as one flat string. Ids and ETags live as long as
 * their rendezvous: a string built by concatenation would stay a rope of small strings (about 100
 * bytes more each), and `String.fromCharCode(...codes)` costs twice the native decode.
 */
function flatString(bytes: Uint8Array, length: number): string {
  return ascii.decode(length === bytes.length ? bytes : bytes.subarray(0, length))
}

/** base64url without padding of `length` bytes of `bytes` starting at `offset`, as one flat string. */
export function encodeBase64Url(bytes: Uint8Array, offset: number, length: number): string {
  const size = Math.ceil((length * 4) / 3)
  const out = size <= scratch.length ? scratch : new Uint8Array(size)
  const end = offset + length
  let i = offset
  let o = 0
  for (; i + 3 <= end; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out[o++] = ALPHABET[n >> 18]!
    out[o++] = ALPHABET[(n >> 12) & 63]!
    out[o++] = ALPHABET[(n >> 6) & 63]!
    out[o++] = ALPHABET[n & 63]!
  }
  const rest = end - i
  if (rest === 1) {
    const n = bytes[i]! << 16
    out[o++] = ALPHABET[n >> 18]!
    out[o++] = ALPHABET[(n >> 12) & 63]!
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8)
    out[o++] = ALPHABET[n >> 18]!
    out[o++] = ALPHABET[(n >> 12) & 63]!
    out[o++] = ALPHABET[(n >> 6) & 63]!
  }
  return flatString(out, o)
}

const ALPHABET = Uint8Array.from(BASE64URL, (c) => c.charCodeAt(0))
