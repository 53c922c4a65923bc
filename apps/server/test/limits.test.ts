import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, bytes, chunked, create, rawRequest, startServer } from './harness.ts'

const MAX = 64

describe('max_bytes', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer({ RENDEZVOUS_MAX_BYTES: String(MAX) })
  })
  afterAll(() => server.close())

  const exactly = () => new Uint8Array(MAX).fill(0x61)
  const oneOver = () => new Uint8Array(MAX + 1).fill(0x62)

  it('should report the limit on create', async () => {
    const { response } = await create(server)
    expect(response.headers.get('x-max-bytes')).toBe(String(MAX))
    expect(((await response.json()) as { max_bytes: number }).max_bytes).toBe(MAX)
  })

  it.each([
    ['Content-Length', (b: Uint8Array<ArrayBuffer>) => b as BodyInit],
    ['chunked', (b: Uint8Array<ArrayBuffer>) => chunked(b, 10) as BodyInit],
  ])('should accept exactly max_bytes and refuse one more on POST (%s)', async (_name, body) => {
    const ok = await fetch(server.base, { method: 'POST', body: body(exactly()), duplex: 'half' } as RequestInit)
    expect(ok.status).toBe(200)
    const tooLarge = await fetch(server.base, { method: 'POST', body: body(oneOver()), duplex: 'half' } as RequestInit)
    expect(tooLarge.status).toBe(413)
    expect(tooLarge.headers.get('content-type')).toBe('application/json')
    expect(tooLarge.headers.get('access-control-allow-origin')).toBe('*')
    expect(await tooLarge.json()).toMatchObject({ errcode: 'M_TOO_LARGE' })
  })

  it.each([
    ['Content-Length', (b: Uint8Array<ArrayBuffer>) => b as BodyInit],
    ['chunked', (b: Uint8Array<ArrayBuffer>) => chunked(b, 10) as BodyInit],
  ])('should accept exactly max_bytes and refuse one more on PUT, keeping the payload (%s)', async (_name, body) => {
    const { id, etag } = await create(server, 'before', 'text/plain')
    const tooLarge = await fetch(`${server.base}${id}`, { method: 'PUT', body: body(oneOver()), duplex: 'half' } as RequestInit)
    expect(tooLarge.status).toBe(413)
    expect(tooLarge.headers.get('etag')).toBe(etag)
    expect(tooLarge.headers.get('expires')).not.toBeNull()
    expect(tooLarge.headers.get('last-modified')).not.toBeNull()
    expect(await tooLarge.json()).toMatchObject({ errcode: 'M_TOO_LARGE' })
    const unchanged = await fetch(`${server.base}${id}`)
    expect(await unchanged.text()).toBe('before')
    expect(unchanged.headers.get('etag')).toBe(etag)
    expect(unchanged.headers.get('content-type')).toBe('text/plain')

    const ok = await fetch(`${server.base}${id}`, { method: 'PUT', body: body(exactly()), duplex: 'half' } as RequestInit)
    expect(ok.status).toBe(202)
    expect(new Uint8Array(await (await fetch(`${server.base}${id}`)).arrayBuffer())).toEqual(exactly())
  })

  it('should refuse a huge declared Content-Length at once, without waiting for the body', async () => {
    const raw = `POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000\r\n\r\nonly a little`
    const response = await rawRequest(server.port, raw)
    expect(response.status).toBe(413)
    expect(response.text).toContain('M_TOO_LARGE')
  })

  it('should refuse an overlong Content-Type on create and on update', async () => {
    const long = `text/${'x'.repeat(300)}`
    expect((await fetch(server.base, { method: 'POST', body: 'x', headers: { 'content-type': long } })).status).toBe(400)
    const { id, etag } = await create(server, 'keep')
    const put = await fetch(`${server.base}${id}`, { method: 'PUT', body: 'x', headers: { 'content-type': long } })
    expect(put.status).toBe(400)
    expect((await fetch(`${server.base}${id}`)).headers.get('etag')).toBe(etag)
  })
})

describe('capacity', () => {
  it('should answer 429 with Retry-After when max_sessions is reached, and keep serving live rendezvous', async () => {
    const server = await startServer({ RENDEZVOUS_MAX_SESSIONS: '2' })
    try {
      const first = await create(server, 'one')
      const second = await create(server, 'two')
      const refused = await fetch(server.base, { method: 'POST', body: 'three' })
      expect(refused.status).toBe(429)
      const retryAfter = Number(refused.headers.get('retry-after'))
      expect(retryAfter).toBeGreaterThan(0)
      expect(retryAfter).toBeLessThanOrEqual(120)
      const body = (await refused.json()) as { errcode: string; retry_after_ms: number }
      expect(body.errcode).toBe('M_LIMIT_EXCEEDED')
      expect(body.retry_after_ms).toBeGreaterThan(0)
      expect(await (await fetch(`${server.base}${first.id}`)).text()).toBe('one')
      expect(await (await fetch(`${server.base}${second.id}`)).text()).toBe('two')
      await fetch(`${server.base}${first.id}`, { method: 'DELETE' })
      expect((await fetch(server.base, { method: 'POST', body: 'three' })).status).toBe(200)
    } finally {
      await server.close()
    }
  })

  it('should answer 429 with the ETag headers to a PUT that would pass max_total_bytes, and keep the payload', async () => {
    const server = await startServer({ RENDEZVOUS_MAX_TOTAL_BYTES: '20' })
    try {
      const { id, etag } = await create(server, bytes('0123456789'))
      await create(server, bytes('0123456789'))
      const put = await fetch(`${server.base}${id}`, { method: 'PUT', body: '0123456789ABC' })
      expect(put.status).toBe(429)
      expect(put.headers.get('etag')).toBe(etag)
      expect(put.headers.get('retry-after')).not.toBeNull()
      expect(await (await fetch(`${server.base}${id}`)).text()).toBe('0123456789')
    } finally {
      await server.close()
    }
  })
})
