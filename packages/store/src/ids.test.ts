import { describe, expect, it } from 'vitest'
import { EtagIssuer, encodeBase64Url, newRendezvousId } from './ids.ts'

describe('encodeBase64Url', () => {
  it('should match the RFC 4648 test vectors without padding', () => {
    const cases: [string, string][] = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ]
    for (const [input, output] of cases) {
      const bytes = new TextEncoder().encode(input)
      expect(encodeBase64Url(bytes, 0, bytes.length)).toBe(output)
    }
  })

  it('should use the URL-safe alphabet', () => {
    expect(encodeBase64Url(new Uint8Array([0xfb, 0xff]), 0, 2)).toBe('-_8')
  })
})

describe('newRendezvousId', () => {
  it('should give 22 characters carrying 128 bits that look random', () => {
    const ids = Array.from({ length: 10_000 }, newRendezvousId)
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{21}[AQgw]$/)
    // Every alphabet character shows up at the first position: no fixed or time-based prefix.
    expect(new Set(ids.map((id) => id[0])).size).toBe(64)
  })
})

describe('EtagIssuer', () => {
  it('should issue distinct strong tags, and two issuers never collide', () => {
    const a = new EtagIssuer()
    const b = new EtagIssuer()
    const tags = new Set<string>()
    for (let i = 0; i < 1000; i++) {
      tags.add(a.next())
      tags.add(b.next())
    }
    expect(tags.size).toBe(2000)
    for (const tag of tags) expect(tag).toMatch(/^"[A-Za-z0-9_.-]{1,62}"$/)
  })

  it('should spell a serial as the same tag whenever asked, and different serials as different tags', () => {
    const issuer = new EtagIssuer()
    const serials = Array.from({ length: 100 }, () => issuer.nextSerial())
    const first = serials.map((serial) => issuer.format(serial))
    // Asked again in another order (so the last-asked shortcut is not what answers).
    const again = [...serials]
      .reverse()
      .map((serial) => issuer.format(serial))
      .reverse()
    expect(again).toEqual(first)
    expect(new Set(first).size).toBe(100)
    // `next` continues the same sequence: its tag is not one already handed out as a serial.
    expect(first).not.toContain(issuer.next())
  })
})
