import { describe, expect, it } from 'vitest'
import { clientAddress, clientRateLimitKey, isTrustedProxy, rateLimitKey } from './client-address.ts'
import type { TrustProxy } from './config.ts'
import { formatAddress, parseAddress, parseAddressRange, parseAddressWithPort, rangeContains } from './ip-address.ts'

const canonical = (text: string) => {
  const parsed = parseAddressWithPort(text)
  return parsed === null ? null : formatAddress(parsed)
}

describe('canonical addresses', () => {
  it.each([
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::1', '::1'],
    ['::', '::'],
    ['2001:DB8:0:0:0:0:0:C', '2001:db8::c'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0001:0000:0000:0000:0000:0000', '2001:db8:1::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::ffff:10.1.1.1', '10.1.1.1'],
    ['::FFFF:0a01:0101', '10.1.1.1'],
    ['0:0:0:0:0:ffff:10.1.1.1', '10.1.1.1'],
    ['10.1.1.1', '10.1.1.1'],
    ['10.1.1.1:1234', '10.1.1.1'],
    ['[2001:db8:1:2::c]', '2001:db8:1:2::c'],
    ['[2001:db8:1:2::c]:443', '2001:db8:1:2::c'],
    ['[::ffff:127.0.0.1]:80', '127.0.0.1'],
    [' 192.0.2.7 ', '192.0.2.7'],
  ])('should read %s as %s', (text, expected) => {
    expect(canonical(text)).toBe(expected)
  })

  it.each([
    '',
    'unknown',
    '10.1.1',
    '10.1.1.256',
    '010.1.1.1',
    '1:2:3',
    '1::2::3',
    '[::1',
    '[::1]x',
    '10.1.1.1:port',
    'fe80::1%eth0',
    '12345::1',
    '::1.2.3.4.5',
  ])('should refuse %j', (text) => {
    expect(canonical(text)).toBeNull()
  })

  it('should match ranges on the prefix bits, IPv4 and IPv6 alike', () => {
    const v4 = parseAddressRange('10.0.0.0/8')!
    expect(rangeContains(v4, parseAddress('10.200.1.1')!)).toBe(true)
    expect(rangeContains(v4, parseAddress('11.0.0.1')!)).toBe(false)
    expect(rangeContains(v4, parseAddress('::ffff:10.1.2.3')!)).toBe(true)
    const v6 = parseAddressRange('2001:db8::/33')!
    expect(rangeContains(v6, parseAddress('2001:db8:7fff::1')!)).toBe(true)
    expect(rangeContains(v6, parseAddress('2001:db8:8000::1')!)).toBe(false)
    expect(rangeContains(parseAddressRange('0:0:0:0:0:0:0:1')!, parseAddress('::1')!)).toBe(true)
  })
})

describe('trusted proxies and client addresses', () => {
  const trusting = (...entries: string[]): TrustProxy => ({ kind: 'addresses', ranges: entries.map((e) => parseAddressRange(e)!) })

  // Regression: the setting and the peer were compared as strings.
  it('should trust a proxy however the setting spells its address', () => {
    expect(isTrustedProxy(trusting('0:0:0:0:0:0:0:1'), '::1')).toBe(true)
    expect(isTrustedProxy(trusting('127.0.0.1'), '::ffff:127.0.0.1')).toBe(true)
    expect(isTrustedProxy(trusting('[::1]'), '::1')).toBe(true)
    expect(isTrustedProxy(trusting('10.0.0.0/8'), '10.9.8.7')).toBe(true)
    expect(isTrustedProxy(trusting('10.0.0.0/8'), '192.168.1.1')).toBe(false)
  })

  it('should take the client from behind a trusted proxy in canonical form', () => {
    const trust = trusting('0:0:0:0:0:0:0:1')
    expect(clientAddress(trust, '::1', '10.1.1.1:1234')).toBe('10.1.1.1')
    expect(clientAddress(trust, '::1', '[2001:DB8:1:2::C]:443')).toBe('2001:db8:1:2::c')
    expect(clientAddress(trust, '::1', '198.51.100.1, ::1')).toBe('198.51.100.1')
    expect(clientAddress({ kind: 'hops', hops: 1 }, '::ffff:127.0.0.1', '203.0.113.9:5555')).toBe('203.0.113.9')
  })

  it('should hold the nearest readable hop responsible for an entry that is not an address', () => {
    expect(clientAddress(trusting('::1'), '::1', 'unknown')).toBe('::1')
    expect(clientAddress({ kind: 'hops', hops: 1 }, '10.0.0.5', 'garbage')).toBe('10.0.0.5')
    expect(clientAddress({ kind: 'hops', hops: 2 }, '10.0.0.5', 'garbage, 10.0.0.4')).toBe('10.0.0.4')
  })

  it('should ignore X-Forwarded-For from an untrusted peer', () => {
    expect(clientAddress(trusting('10.0.0.1'), '::ffff:192.0.2.1', '203.0.113.9')).toBe('192.0.2.1')
    expect(clientAddress({ kind: 'off' }, '192.0.2.1', '203.0.113.9')).toBe('192.0.2.1')
  })

  it('should put every address of one IPv6 /64 and every spelling of an IPv4 address under one key', () => {
    expect(rateLimitKey('2001:db8:1:2::c')).toBe('2001:db8:1:2::/64')
    expect(rateLimitKey('[2001:db8:1:2::c]')).toBe('2001:db8:1:2::/64')
    expect(rateLimitKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64')
    expect(rateLimitKey('10.1.1.1:1234')).toBe(rateLimitKey('10.1.1.1'))
    expect(rateLimitKey('::ffff:10.1.1.1')).toBe('10.1.1.1')
  })

  it('should key the rate limit by the client behind the proxy, as clientAddress names it', () => {
    const trust = trusting('::1')
    expect(clientRateLimitKey(trust, '::1', '[2001:db8:1:2::c]:443')).toBe('2001:db8:1:2::/64')
    expect(clientRateLimitKey(trust, '::1', '10.1.1.1:1234')).toBe('10.1.1.1')
    expect(clientRateLimitKey({ kind: 'off' }, '2001:db8:1:2::c', '10.1.1.1')).toBe('2001:db8:1:2::/64')
    expect(clientRateLimitKey({ kind: 'off' }, null, null)).toBe('unknown')
    for (const [peer, forwarded] of [
      ['::1', 'garbage, 198.51.100.7'],
      ['::ffff:127.0.0.1', null],
      ['not an address', '10.0.0.1'],
    ] as const) {
      expect(clientRateLimitKey(trust, peer, forwarded)).toBe(rateLimitKey(clientAddress(trust, peer, forwarded)))
    }
  })
})
