import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, create, rawRequest, startServer } from './harness.ts'

let server: TestServer
beforeAll(async () => {
  server = await startServer({ RENDEZVOUS_MAX_BYTES: '100' })
})
afterAll(() => server.close())

describe('malformed HTTP framing', () => {
  const cases: [string, (id: string) => string][] = [
    ['a non-numeric Content-Length', (id) => `PUT /${id} HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\nhello`],
    ['a negative Content-Length', (id) => `PUT /${id} HTTP/1.1\r\nHost: localhost\r\nContent-Length: -5\r\n\r\nhello`],
    ['two different Content-Lengths', (id) => `PUT /${id} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`],
    ['Content-Length with chunked', (id) => `PUT /${id} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['a bad chunk size', (id) => `PUT /${id} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`],
    ['a chunk longer than announced', (id) => `PUT /${id} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n`],
    ['an unknown transfer coding', (id) => `PUT /${id} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\nhello`],
    ['a garbage request line', () => `GARBAGE\r\n\r\n`],
    ['a header without a colon', (id) => `GET /${id} HTTP/1.1\r\nHost: localhost\r\nBroken header\r\n\r\n`],
    ['a space before the colon', (id) => `GET /${id} HTTP/1.1\r\nHost : x\r\n\r\n`],
    ['a NUL in a header', (id) => `GET /${id} HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: "a\u0000b"\r\n\r\n`],
    ['an unknown method', (id) => `FOO /${id} HTTP/1.1\r\nHost: localhost\r\n\r\n`],
    ['an absurdly long header', (id) => `GET /${id} HTTP/1.1\r\nHost: localhost\r\nX-Long: ${'a'.repeat(200_000)}\r\n\r\n`],
    ['a truncated body', (id) => `PUT /${id} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50\r\nConnection: close\r\n\r\nshort`],
  ]

  it.each(cases)('should answer %s with a 4xx or a closed connection, never a 5xx, and keep the payload', async (_name, build) => {
    const { id, etag } = await create(server, 'intact')
    const response = await rawRequest(server.port, build(id), 800)
    if (response.status !== 0) {
      expect(response.status).toBeGreaterThanOrEqual(200)
      expect(response.status).toBeLessThan(500)
    }
    const read = await fetch(`${server.base}${id}`)
    expect(read.status).toBe(200)
    expect(await read.text()).toBe('intact')
    expect(read.headers.get('etag')).toBe(etag)
  })

  // Bun's HTTP parser answers these itself, before any of our code runs. 505 is the status RFC 9110
  // section 15.6.6 defines for a refused protocol version; the README lists it as the one 5xx.
  it.each([
    ['an HTTP version other than 1.0 and 1.1', (id: string) => `GET /${id} HTTP/9.9\r\nHost: localhost\r\n\r\n`],
    ['bare LF line endings', (id: string) => `GET /${id} HTTP/1.1\nHost: localhost\n\n`],
  ])('should refuse %s with 505 and close, leaving the server and payload intact', async (_name, build) => {
    const { id, etag } = await create(server, 'intact')
    const response = await rawRequest(server.port, build(id), 800)
    expect([0, 505]).toContain(response.status)
    const read = await fetch(`${server.base}${id}`)
    expect(await read.text()).toBe('intact')
    expect(read.headers.get('etag')).toBe(etag)
  })

  it('should still serve normal requests after all of that', async () => {
    const { id } = await create(server, 'fine')
    expect(await (await fetch(`${server.base}${id}`)).text()).toBe('fine')
  })
})
