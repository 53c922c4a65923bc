import { Value } from '@sinclair/typebox/value'
import { describe, expect, it } from 'vitest'
import { Msc4388CreateRequest, Msc4388UpdateRequest, etagOfSequenceToken, isBrowserNavigation, isOpaqueIdentifier, sequenceTokenOf } from './msc4388.ts'

describe('MSC4388 schemas', () => {
  it('should accept string data and refuse anything else', () => {
    expect(Value.Check(Msc4388CreateRequest, { data: 'hello' })).toBe(true)
    expect(Value.Check(Msc4388CreateRequest, { data: 1 })).toBe(false)
    expect(Value.Check(Msc4388CreateRequest, {})).toBe(false)
    expect(Value.Check(Msc4388UpdateRequest, { sequence_token: 'a', data: '' })).toBe(true)
    expect(Value.Check(Msc4388UpdateRequest, { sequence_token: 1, data: '' })).toBe(false)
  })
})

describe('opaque identifiers and sequence tokens', () => {
  it('should follow the grammar, up to 255 characters', () => {
    expect(isOpaqueIdentifier('abc.DEF_123~-')).toBe(true)
    expect(isOpaqueIdentifier('a'.repeat(255))).toBe(true)
    expect(isOpaqueIdentifier('a'.repeat(256))).toBe(false)
    expect(isOpaqueIdentifier('')).toBe(false)
    expect(isOpaqueIdentifier('a b')).toBe(false)
    expect(isOpaqueIdentifier('"quoted"')).toBe(false)
  })

  it('should map ETags to tokens and back', () => {
    expect(sequenceTokenOf('"abc.1"')).toBe('abc.1')
    expect(etagOfSequenceToken('abc.1')).toBe('"abc.1"')
  })
})

describe('isBrowserNavigation', () => {
  const h = (init: Record<string, string>) => new Headers(init)
  it('should flag what a browser sends when a link is opened', () => {
    expect(isBrowserNavigation(h({ 'sec-fetch-dest': 'document' }))).toBe(true)
    expect(isBrowserNavigation(h({ 'sec-fetch-mode': 'navigate' }))).toBe(true)
    expect(isBrowserNavigation(h({ 'sec-fetch-user': '?1' }))).toBe(true)
    expect(isBrowserNavigation(h({ 'sec-fetch-site': 'none' }))).toBe(true)
  })

  it('should let scripts and non-browser clients through', () => {
    expect(isBrowserNavigation(h({}))).toBe(false)
    expect(isBrowserNavigation(h({ 'sec-fetch-dest': 'empty', 'sec-fetch-mode': 'cors', 'sec-fetch-site': 'cross-site' }))).toBe(false)
  })
})
