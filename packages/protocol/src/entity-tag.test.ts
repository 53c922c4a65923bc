import { describe, expect, it } from 'vitest'
import { conditionMatches, isEntityTag, parseEntityTagCondition } from './entity-tag.ts'

function parsed(value: string) {
  const result = parseEntityTagCondition(value)
  if (!result.ok) throw new Error(`expected ${JSON.stringify(value)} to parse: ${result.error}`)
  return result.condition
}

describe('parseEntityTagCondition', () => {
  it('should read * as matching every tag', () => {
    expect(parsed('*')).toEqual({ kind: 'any' })
    expect(parsed('  *  ')).toEqual({ kind: 'any' })
  })

  it('should read a single strong tag with its quotes', () => {
    expect(parsed('"abc"')).toEqual({ kind: 'tags', tags: [{ weak: false, opaque: '"abc"' }] })
  })

  it('should read a weak tag and keep the opaque part', () => {
    expect(parsed('W/"abc"')).toEqual({ kind: 'tags', tags: [{ weak: true, opaque: '"abc"' }] })
  })

  it('should read an empty opaque tag', () => {
    expect(parsed('""')).toEqual({ kind: 'tags', tags: [{ weak: false, opaque: '""' }] })
  })

  it('should read lists with optional whitespace and empty elements', () => {
    const condition = parsed(' "a" ,W/"b",\t"c", , ')
    expect(condition).toEqual({
      kind: 'tags',
      tags: [
        { weak: false, opaque: '"a"' },
        { weak: true, opaque: '"b"' },
        { weak: false, opaque: '"c"' },
      ],
    })
  })

  it('should read a comma inside the quotes as part of the tag, not a list separator', () => {
    // A comma is an etagc (%x23-7E), so `"a,b"` is one tag.
    expect(parsed('"a,b", "c"')).toEqual({
      kind: 'tags',
      tags: [
        { weak: false, opaque: '"a,b"' },
        { weak: false, opaque: '"c"' },
      ],
    })
  })

  it.each([
    ['empty', ''],
    ['blank', '   '],
    ['only commas', ', ,'],
    ['unquoted', 'abc'],
    ['unterminated', '"abc'],
    ['lower-case weak prefix', 'w/"abc"'],
    ['space inside', '"a b"'],
    ['control character inside', '"a\u0001b"'],
    ['missing comma between tags', '"a" "b"'],
    ['star inside a list', '"a", *'],
    ['trailing garbage', '"a"x'],
    ['weak prefix without tag', 'W/'],
    ['character above obs-text', '"\u20ac"'],
  ])('should reject a malformed value (%s)', (_name, value) => {
    const result = parseEntityTagCondition(value)
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.error).toMatch(/\S/)
  })

  it('should accept obs-text bytes as Latin-1 characters', () => {
    expect(parsed('"\u00e9"')).toEqual({ kind: 'tags', tags: [{ weak: false, opaque: '"\u00e9"' }] })
  })
})

describe('conditionMatches', () => {
  it('should match any current tag for *', () => {
    expect(conditionMatches(parsed('*'), '"x"')).toBe(true)
  })

  it('should match when one tag of the list is the current one', () => {
    expect(conditionMatches(parsed('"a", "x"'), '"x"')).toBe(true)
    expect(conditionMatches(parsed('"a", "b"'), '"x"')).toBe(false)
  })

  it('should match a proxy-weakened copy of the current tag', () => {
    expect(conditionMatches(parsed('W/"x"'), '"x"')).toBe(true)
  })

  it('should compare the opaque part exactly, case included', () => {
    expect(conditionMatches(parsed('"X"'), '"x"')).toBe(false)
    expect(conditionMatches(parsed('"x "'.replace(' ', '')), '"x"')).toBe(true)
  })
})

describe('isEntityTag', () => {
  it('should accept strong and weak tags', () => {
    expect(isEntityTag('"abc"')).toBe(true)
    expect(isEntityTag('W/"abc"')).toBe(true)
  })

  it('should reject lists, stars and bare words', () => {
    expect(isEntityTag('"a", "b"')).toBe(false)
    expect(isEntityTag('*')).toBe(false)
    expect(isEntityTag('abc')).toBe(false)
  })
})
