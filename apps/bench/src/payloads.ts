/**
 * @module Message payloads that say who wrote them, and the checker that compares what a device
 * read with what its peer wrote. A lost, duplicated or crossed message is an error with a cause,
 * never just a slower number.
 */

export interface MessageId {
  readonly pair: number
  readonly handshake: number
  readonly seq: number
}

export type MismatchCause = 'crossed' | 'stale' | 'skipped' | 'corrupt'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * A payload of exactly `size` bytes (or its header alone when `size` is smaller): a header naming
 * the message, then filler derived from it, so any byte out of place is detected.
 */
export function messagePayload(id: MessageId, size: number): Uint8Array<ArrayBuffer> {
  const header = encoder.encode(`rz:${id.pair}:${id.handshake}:${id.seq}:`)
  const bytes = new Uint8Array(Math.max(size, header.byteLength))
  bytes.set(header)
  let state = (id.pair * 2_654_435_761 + id.handshake * 40_503 + id.seq * 97 + 1) >>> 0
  for (let i = header.byteLength; i < bytes.byteLength; i++) {
    // xorshift32: cheap, deterministic filler.
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    bytes[i] = state & 0xff
  }
  return bytes
}

/** Parses the header of a payload written by `messagePayload`, or null when there is none. */
export function readMessageId(bytes: Uint8Array): MessageId | null {
  const head = decoder.decode(bytes.subarray(0, Math.min(64, bytes.byteLength)))
  const match = /^rz:(\d+):(\d+):(\d+):/.exec(head)
  if (!match) return null
  return { pair: Number(match[1]), handshake: Number(match[2]), seq: Number(match[3]) }
}

/** Null when `actual` is exactly the payload of `expected`, else why not. */
export function checkMessage(expected: MessageId, size: number, actual: Uint8Array): MismatchCause | null {
  const got = readMessageId(actual)
  if (!got) return 'corrupt'
  if (got.pair !== expected.pair || got.handshake !== expected.handshake) return 'crossed'
  if (got.seq < expected.seq) return 'stale'
  if (got.seq > expected.seq) return 'skipped'
  const want = messagePayload(expected, size)
  if (want.byteLength !== actual.byteLength) return 'corrupt'
  for (let i = 0; i < want.byteLength; i++) if (want[i] !== actual[i]) return 'corrupt'
  return null
}
