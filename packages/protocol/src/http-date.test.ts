import { describe, expect, it } from 'vitest'
import { formatHttpDate, parseHttpDate } from './http-date.ts'

describe('formatHttpDate', () => {
  it('should produce an IMF-fixdate', () => {
    expect(formatHttpDate(Date.UTC(1994, 10, 6, 8, 49, 37))).toBe('Sun, 06 Nov 1994 08:49:37 GMT')
  })

  it('should drop milliseconds', () => {
    expect(formatHttpDate(Date.UTC(2026, 0, 1, 0, 0, 0, 999))).toBe('Thu, 01 Jan 2026 00:00:00 GMT')
  })
})

describe('parseHttpDate', () => {
  it('should read back what formatHttpDate wrote, to the second', () => {
    const ms = Date.UTC(2026, 10, 28, 5, 20, 6)
    expect(parseHttpDate(formatHttpDate(ms))).toBe(ms)
  })

  it.each([
    ['RFC 850 form', 'Sunday, 06-Nov-94 08:49:37 GMT'],
    ['asctime form', 'Sun Nov  6 08:49:37 1994'],
    ['impossible day', 'Tue, 31 Feb 2026 00:00:00 GMT'],
    ['hour 24', 'Sun, 06 Nov 1994 24:00:00 GMT'],
    ['other zone', 'Sun, 06 Nov 1994 08:49:37 UTC'],
    ['empty', ''],
  ])('should reject %s', (_name, text) => {
    expect(parseHttpDate(text)).toBeNull()
  })
})
