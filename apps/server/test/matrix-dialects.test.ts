import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, startServer } from './harness.ts'

let server: TestServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

const MSC3886 = '/_matrix/client/unstable/org.matrix.msc3886/rendezvous'
const MSC4108 = '/_matrix/client/unstable/org.matrix.msc4108/rendezvous'
const MSC4388_STABLE = '/_matrix/client/v1/rendezvous'
const MSC4388_UNSTABLE = '/_matrix/client/unstable/io.element.msc4388/rendezvous'

describe('MSC3886 final: POST to the Matrix path', () => {
  it('should answer 201 with an empty body, an absolute Location and the ETag headers', async () => {
    const response = await fetch(`${server.origin}${MSC3886}`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } })
    expect(response.status).toBe(201)
    expect(await response.text()).toBe('')
    const location = response.headers.get('location')!
    expect(location).toMatch(new RegExp(`^${server.base}[A-Za-z0-9_-]{22}$`))
    expect(response.headers.get('x-max-bytes')).toBe('10240')
    expect(response.headers.get('etag')).toMatch(/^"/)
    expect(response.headers.get('expires')).not.toBeNull()
    expect(response.headers.get('last-modified')).not.toBeNull()
    const read = await fetch(location)
    expect(await read.text()).toBe('hello')
    expect(read.headers.get('content-type')).toBe('text/plain')
  })
})

describe('MSC4108: POST to the Matrix path', () => {
  it('should answer 201 JSON {url} with the ETag headers, accepting an empty body', async () => {
    const response = await fetch(`${server.origin}${MSC4108}`, { method: 'POST' })
    expect(response.status).toBe(201)
    expect(response.headers.get('content-type')).toBe('application/json')
    const { url } = (await response.json()) as { url: string }
    expect(url).toMatch(new RegExp(`^${server.base}[A-Za-z0-9_-]{22}$`))
    expect(response.headers.get('etag')).toMatch(/^"/)
    const read = await fetch(url)
    expect(read.status).toBe(200)
    expect(read.headers.get('etag')).toBe(response.headers.get('etag'))
  })

  it('should answer 405 to other methods on the create path', async () => {
    const response = await fetch(`${server.origin}${MSC4108}`)
    expect(response.status).toBe(405)
    expect(response.headers.get('allow')).toContain('POST')
  })
})

describe.each([MSC4388_STABLE, MSC4388_UNSTABLE])('MSC4388 at %s', (base) => {
  const url = (path = '') => `${server.origin}${base}${path}`
  const put = (id: string, body: unknown) => fetch(url(`/${id}`), { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })

  async function created(data = 'hello'): Promise<{ id: string; sequence_token: string; expires_in_ms: number }> {
    const response = await fetch(url(), { method: 'POST', body: JSON.stringify({ data }), headers: { 'content-type': 'application/json' } })
    expect(response.status).toBe(200)
    return (await response.json()) as { id: string; sequence_token: string; expires_in_ms: number }
  }

  it('should answer discovery', async () => {
    const response = await fetch(url())
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ create_available: true })
  })

  it('should create, read, update and delete with sequence tokens', async () => {
    const session = await created('first')
    expect(session.id).toMatch(/^[0-9A-Za-z._~-]{1,255}$/)
    expect(session.sequence_token).toMatch(/^[0-9A-Za-z._~-]{1,255}$/)
    expect(session.expires_in_ms).toBeGreaterThan(110_000)
    expect(session.expires_in_ms).toBeLessThanOrEqual(120_000)

    const read = await fetch(url(`/${session.id}`))
    expect(read.status).toBe(200)
    expect(await read.json()).toEqual({ data: 'first', sequence_token: session.sequence_token, expires_in_ms: expect.any(Number) })

    const update = await put(session.id, { sequence_token: session.sequence_token, data: 'second ✓' })
    expect(update.status).toBe(200)
    const { sequence_token } = (await update.json()) as { sequence_token: string }
    expect(sequence_token).not.toBe(session.sequence_token)
    expect(((await (await fetch(url(`/${session.id}`))).json()) as { data: string }).data).toBe('second ✓')

    const removed = await fetch(url(`/${session.id}`), { method: 'DELETE' })
    expect(removed.status).toBe(200)
    expect(await removed.json()).toEqual({})
    expect((await fetch(url(`/${session.id}`))).status).toBe(404)
  })

  it('should answer 409 M_CONCURRENT_WRITE to a stale token and change nothing', async () => {
    const session = await created('v1')
    const first = (await (await put(session.id, { sequence_token: session.sequence_token, data: 'v2' })).json()) as { sequence_token: string }
    await put(session.id, { sequence_token: first.sequence_token, data: 'v3' })
    const stale = await put(session.id, { sequence_token: session.sequence_token, data: 'v2-again' })
    expect(stale.status).toBe(409)
    expect(await stale.json()).toMatchObject({ errcode: 'M_CONCURRENT_WRITE' })
    expect(((await (await fetch(url(`/${session.id}`))).json()) as { data: string }).data).toBe('v3')
  })

  it('should answer an exact retry with the current token and change nothing', async () => {
    const session = await created('v1')
    const write = { sequence_token: session.sequence_token, data: 'v2' }
    const first = (await (await put(session.id, write)).json()) as { sequence_token: string }
    const retry = await put(session.id, write)
    expect(retry.status).toBe(200)
    expect(await retry.json()).toEqual({ sequence_token: first.sequence_token })
    const read = (await (await fetch(url(`/${session.id}`))).json()) as { data: string; sequence_token: string }
    expect(read).toMatchObject({ data: 'v2', sequence_token: first.sequence_token })
    // A "retry" with different data is a conflict, not a retry.
    expect((await put(session.id, { ...write, data: 'other' })).status).toBe(409)
  })

  it('should refuse data over 4096 UTF-8 bytes with 413, and accept exactly 4096', async () => {
    const exactly = 'é'.repeat(2048)
    const session = await created(exactly)
    const over = await fetch(url(), { method: 'POST', body: JSON.stringify({ data: `${exactly}x` }) })
    expect(over.status).toBe(413)
    expect(await over.json()).toMatchObject({ errcode: 'M_TOO_LARGE' })
    const overPut = await put(session.id, { sequence_token: session.sequence_token, data: `${exactly}x` })
    expect(overPut.status).toBe(413)
    expect(((await (await fetch(url(`/${session.id}`))).json()) as { data: string }).data).toBe(exactly)
  })

  it.each([
    ['bad JSON', '{"data": '],
    ['non-string data', JSON.stringify({ data: 42 })],
    ['missing data', JSON.stringify({})],
    ['an array', '[]'],
  ])('should answer 400 M_INVALID_PARAM to %s', async (_name, body) => {
    const response = await fetch(url(), { method: 'POST', body })
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ errcode: 'M_INVALID_PARAM' })
  })

  it('should answer 400 to a malformed or overlong sequence token', async () => {
    const session = await created()
    for (const token of ['has space', 'x'.repeat(256), '']) {
      const response = await put(session.id, { sequence_token: token, data: 'x' })
      expect(response.status, token).toBe(400)
    }
  })

  it.each([
    ['Sec-Fetch-Dest: document', { 'sec-fetch-dest': 'document' }],
    ['Sec-Fetch-Mode: navigate', { 'sec-fetch-mode': 'navigate' }],
    ['Sec-Fetch-User: ?1', { 'sec-fetch-user': '?1' }],
    ['Sec-Fetch-Site: none', { 'sec-fetch-site': 'none' }],
  ])('should refuse a read that looks like a browser navigation (%s) with 403', async (_name, headers) => {
    const session = await created('secret')
    const response = await fetch(url(`/${session.id}`), { headers })
    expect(response.status).toBe(403)
    const body = await response.text()
    expect(body).not.toContain('secret')
    expect(JSON.parse(body)).toMatchObject({ errcode: 'M_FORBIDDEN' })
  })

  it('should let a script read (Sec-Fetch-Dest: empty, Mode: cors)', async () => {
    const session = await created('ok')
    const response = await fetch(url(`/${session.id}`), { headers: { 'sec-fetch-dest': 'empty', 'sec-fetch-mode': 'cors', 'sec-fetch-site': 'cross-site' } })
    expect(response.status).toBe(200)
  })

  it('should answer 404 for unknown and malformed ids', async () => {
    for (const id of ['AAAAAAAAAAAAAAAAAAAAAA', 'x'.repeat(300), '%E2%82%AC']) {
      expect((await fetch(url(`/${id}`))).status).toBe(404)
      expect((await put(id, { sequence_token: 'a', data: 'x' })).status).toBe(404)
      expect((await fetch(url(`/${id}`), { method: 'DELETE' })).status).toBe(404)
    }
  })
})

describe('MSC4388 creation with RENDEZVOUS_CREATE_AUTH', () => {
  it('should need an accepted bearer token to create, and nothing else', async () => {
    const guarded = await startServer({}, undefined, new Set(['s3cret']))
    const origin = guarded.origin
    try {
      const post = (headers: Record<string, string>) => fetch(`${origin}${MSC4388_STABLE}`, { method: 'POST', body: JSON.stringify({ data: 'x' }), headers })
      const missing = await post({})
      expect(missing.status).toBe(401)
      expect(await missing.json()).toMatchObject({ errcode: 'M_MISSING_TOKEN' })
      const wrong = await post({ authorization: 'Bearer nope' })
      expect(wrong.status).toBe(401)
      expect(await wrong.json()).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN' })
      const ok = await post({ authorization: 'Bearer s3cret' })
      expect(ok.status).toBe(200)
      const { id } = (await ok.json()) as { id: string }
      // Reading, and the other dialects, stay open.
      expect((await fetch(`${origin}${MSC4388_STABLE}/${id}`)).status).toBe(200)
      expect((await fetch(`${origin}/`, { method: 'POST' })).status).toBe(200)
    } finally {
      await guarded.close()
    }
  })
})
