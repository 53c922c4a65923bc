import { describe, expect, it } from 'vitest'
import { parsePrefer, parsePreferWait } from './prefer.ts'

describe('parsePrefer', () => {
  it('should read names case-insensitively with token and quoted values', () => {
    const prefs = parsePrefer('Wait=10, respond-async, handling="lenient"')
    expect([...prefs]).toEqual([
      ['wait', '10'],
      ['respond-async', ''],
      ['handling', 'lenient'],
    ])
  })

  it('should drop parameters after a semicolon', () => {
    expect(parsePrefer('wait=5; foo=bar').get('wait')).toBe('5')
  })

  it('should keep the first of repeated preferences', () => {
    expect(parsePrefer('wait=5, wait=9').get('wait')).toBe('5')
  })

  it('should not split on commas inside a quoted value', () => {
    expect(parsePrefer('x="a,b", wait=3').get('x')).toBe('a,b')
    expect(parsePrefer('x="a,b", wait=3').get('wait')).toBe('3')
  })

  it('should skip malformed elements instead of failing', () => {
    const prefs = parsePrefer('bad name=1, "quoted"=2, x="unterminated, wait=4')
    expect(prefs.has('bad name')).toBe(false)
    expect(prefs.size).toBe(0)
  })

  it('should read escapes in quoted values and refuse an escaped closing quote', () => {
    expect(parsePrefer('x="a\\"b"').get('x')).toBe('a"b')
    expect(parsePrefer('x="open\\"').has('x')).toBe(false)
  })

  it('should give an empty map for an empty header', () => {
    expect(parsePrefer('').size).toBe(0)
  })
})

describe('parsePreferWait', () => {
  it('should read whole seconds', () => {
    expect(parsePreferWait('wait=0')).toBe(0)
    expect(parsePreferWait('wait=30')).toBe(30)
    expect(parsePreferWait('respond-async, wait=12')).toBe(12)
    expect(parsePreferWait('wait="7"')).toBe(7)
  })

  it.each(['wait', 'wait=', 'wait=-1', 'wait=1.5', 'wait=abc', 'wait=1e3', 'respond-async', ''])('should ignore %j', (value) => {
    expect(parsePreferWait(value)).toBeUndefined()
  })

  it('should cap absurd values instead of overflowing', () => {
    expect(parsePreferWait('wait=99999999999999999999999')).toBe(2_147_483_647)
  })
})
