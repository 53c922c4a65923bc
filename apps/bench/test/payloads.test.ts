import { describe, expect, it } from 'vitest'
import { checkMessage, messagePayload, readMessageId } from '../src/payloads.ts'

const id = { pair: 7, handshake: 3, seq: 2 }

describe('message payloads', () => {
  it('should have exactly the asked size and name their message', () => {
    const bytes = messagePayload(id, 1024)
    expect(bytes.byteLength).toBe(1024)
    expect(readMessageId(bytes)).toEqual(id)
  })

  it('should never be shorter than the header', () => {
    expect(readMessageId(messagePayload(id, 0))).toEqual(id)
  })

  it('should differ between messages even at the same size', () => {
    const a = messagePayload(id, 256)
    const b = messagePayload({ ...id, seq: 3 }, 256)
    expect(a.slice(20)).not.toEqual(b.slice(20))
  })
})

describe('checkMessage', () => {
  it('should accept the exact payload', () => {
    expect(checkMessage(id, 512, messagePayload(id, 512))).toBeNull()
  })

  it('should call a message from another pair or handshake crossed', () => {
    expect(checkMessage(id, 512, messagePayload({ ...id, pair: 8 }, 512))).toBe('crossed')
    expect(checkMessage(id, 512, messagePayload({ ...id, handshake: 4 }, 512))).toBe('crossed')
  })

  it('should call an earlier message stale and a later one skipped', () => {
    expect(checkMessage(id, 512, messagePayload({ ...id, seq: 1 }, 512))).toBe('stale')
    expect(checkMessage(id, 512, messagePayload({ ...id, seq: 3 }, 512))).toBe('skipped')
  })

  it('should call a changed byte, a truncation or garbage corrupt', () => {
    const flipped = messagePayload(id, 512)
    flipped[300]! ^= 1
    expect(checkMessage(id, 512, flipped)).toBe('corrupt')
    expect(checkMessage(id, 512, messagePayload(id, 512).slice(0, 511))).toBe('corrupt')
    expect(checkMessage(id, 512, new TextEncoder().encode('hello'))).toBe('corrupt')
  })
})
