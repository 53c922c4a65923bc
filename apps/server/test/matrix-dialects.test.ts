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

describe.each([
  [MSC4388_STABLE, 'M_CONCURRENT_WRITE'],
  [MSC4388_UNSTABLE, 'IO_ELEMENT_MSC4388_CONCURRENT_WRITE'],
])('MSC4388 at %s', (base, conflictCode) => {
  const url = (path = '') => `${server.origin}${base}${path}`
  const put = (id: string, body: unknown) =>
    fetch(url(`/${id}`), { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })

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

  it(`should answer 409 ${conflictCode} to a stale token and change nothing`, async () => {
    const session = await created('v1')
    const first = (await (await put(session.id, { sequence_token: session.sequence_token, data: 'v2' })).json()) as { sequence_token: string }
    await put(session.id, { sequence_token: first.sequence_token, data: 'v3' })
    const stale = await put(session.id, { sequence_token: session.sequence_token, data: 'v2-again' })
    expect(stale.status).toBe(409)
    expect(await stale.json()).toEqual({ errcode: conflictCode, error: expect.any(String) })
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

  it('should refuse data it would alter: a lone surrogate, or a body that is not UTF-8, with 400 and nothing stored', async () => {
    const session = await created('kept')
    const lone = await fetch(url(), { method: 'POST', body: '{"data":"\\ud800"}' })
    expect(lone.status).toBe(400)
    expect(await lone.json()).toMatchObject({ errcode: 'M_INVALID_PARAM' })
    const lonePut = await put(session.id, { sequence_token: session.sequence_token, data: '\ud800 trailing' })
    expect(lonePut.status).toBe(400)
    // "é" in Latin-1 (0xE9): not UTF-8, which a lenient decoder would turn into U+FFFD.
    const latin1 = new Uint8Array([...new TextEncoder().encode('{"data":"caf'), 0xe9, ...new TextEncoder().encode('"}')])
    const notUtf8 = await fetch(url(), { method: 'POST', body: latin1 })
    expect(notUtf8.status).toBe(400)
    expect(await notUtf8.json()).toMatchObject({ errcode: 'M_INVALID_PARAM' })
    const read = (await (await fetch(url(`/${session.id}`))).json()) as { data: string; sequence_token: string }
    expect(read).toEqual({ data: 'kept', sequence_token: session.sequence_token, expires_in_ms: expect.any(Number) })
    // Characters outside the BMP, as proper surrogate pairs, are fine.
    expect((await fetch(url(), { method: 'POST', body: JSON.stringify({ data: '🔑 \ud83d\udd11' }) })).status).toBe(200)
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

  describe('writes under a transaction id (PUT /{id}/{txnId})', () => {
    const putTxn = (id: string, txnId: string, body: unknown) =>
      fetch(url(`/${id}/${txnId}`), { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
    const readSession = async (id: string) => (await (await fetch(url(`/${id}`))).json()) as { data: string; sequence_token: string }

    it('should apply a transaction once and replay its answer to every repeat', async () => {
      const session = await created('A1')
      const first = await putTxn(session.id, 'txn-1', { sequence_token: session.sequence_token, data: 'B1' })
      expect(first.status).toBe(200)
      const { sequence_token } = (await first.json()) as { sequence_token: string }
      expect(sequence_token).not.toBe(session.sequence_token)
      // The repeat is answered as the first was, whatever it carries, and writes nothing.
      const repeat = await putTxn(session.id, 'txn-1', { sequence_token: 'whatever', data: 'not written' })
      expect(repeat.status).toBe(200)
      expect(await repeat.json()).toEqual({ sequence_token })
      expect(await readSession(session.id)).toMatchObject({ data: 'B1', sequence_token })
    })

    it(`should remember a 409 and replay it, even once the token would be current`, async () => {
      const session = await created('A1')
      const conflict = await putTxn(session.id, 'late', { sequence_token: 'stale-token', data: 'B1' })
      expect(conflict.status).toBe(409)
      expect(((await conflict.json()) as { errcode: string }).errcode).toBe(conflictCode)
      const repeat = await putTxn(session.id, 'late', { sequence_token: session.sequence_token, data: 'B1' })
      expect(repeat.status).toBe(409)
      expect(await readSession(session.id)).toMatchObject({ data: 'A1', sequence_token: session.sequence_token })
    })

    it('should scope transaction ids to their session', async () => {
      const a = await created('a')
      const b = await created('b')
      expect((await putTxn(a.id, 'shared', { sequence_token: a.sequence_token, data: 'a2' })).status).toBe(200)
      expect((await putTxn(b.id, 'shared', { sequence_token: b.sequence_token, data: 'b2' })).status).toBe(200)
      expect((await readSession(b.id)).data).toBe('b2')
    })

    it('should accept an exact retry under a new transaction id with the current token', async () => {
      const session = await created('A1')
      const first = (await (await putTxn(session.id, 't1', { sequence_token: session.sequence_token, data: 'B1' })).json()) as { sequence_token: string }
      const retry = await putTxn(session.id, 't2', { sequence_token: session.sequence_token, data: 'B1' })
      expect(retry.status).toBe(200)
      expect(await retry.json()).toEqual(first)
    })

    it('should answer 403, not a 429 to retry, once a session has used every transaction id it may', async () => {
      const session = await created('A1')
      for (let i = 0; i < 64; i++) expect((await putTxn(session.id, `t${i}`, { sequence_token: 'stale', data: 'x' })).status).toBe(409)
      const refused = await putTxn(session.id, 'one-more', { sequence_token: session.sequence_token, data: 'B1' })
      expect(refused.status).toBe(403)
      expect(refused.headers.get('retry-after')).toBeNull()
      expect(await refused.json()).toMatchObject({ errcode: 'M_FORBIDDEN' })
      expect(await readSession(session.id)).toMatchObject({ data: 'A1', sequence_token: session.sequence_token })
      // Ids it has seen are still replayed, and the plain write form still works.
      expect((await putTxn(session.id, 't0', { sequence_token: session.sequence_token, data: 'B1' })).status).toBe(409)
      expect((await put(session.id, { sequence_token: session.sequence_token, data: 'B1' })).status).toBe(200)
    })

    it('should refuse a transaction id outside the opaque-identifier grammar, and 404 an unknown session', async () => {
      const session = await created('A1')
      const bad = await putTxn(session.id, 'has%20space', { sequence_token: session.sequence_token, data: 'x' })
      expect(bad.status).toBe(400)
      expect(((await bad.json()) as { errcode: string }).errcode).toBe('M_INVALID_PARAM')
      expect((await putTxn(session.id, 'x'.repeat(256), { sequence_token: session.sequence_token, data: 'x' })).status).toBe(400)
      expect((await putTxn('AAAAAAAAAAAAAAAAAAAAAA', 't', { sequence_token: 'a', data: 'x' })).status).toBe(404)
      expect((await fetch(url(`/${session.id}/t`))).status).toBe(405)
    })
  })

  it('should answer 404 for unknown and malformed ids', async () => {
    for (const id of ['AAAAAAAAAAAAAAAAAAAAAA', 'x'.repeat(300), '%E2%82%AC']) {
      expect((await fetch(url(`/${id}`))).status).toBe(404)
      expect((await put(id, { sequence_token: 'a', data: 'x' })).status).toBe(404)
      expect((await fetch(url(`/${id}`), { method: 'DELETE' })).status).toBe(404)
    }
  })
})

describe('MSC4388 under a low RENDEZVOUS_MAX_BYTES', () => {
  // Regression: MSC4388 allowed 4096 bytes of data whatever max_bytes said, and read JSON bodies of
  // about 25 KB, so the root dialect then served payloads larger than max_bytes.
  it('should limit data to max_bytes and read no body larger than that limit allows', async () => {
    const small = await startServer({ RENDEZVOUS_MAX_BYTES: '100' })
    try {
      const post = (body: string) => fetch(`${small.origin}${MSC4388_STABLE}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
      const over = await post(JSON.stringify({ data: 'x'.repeat(101) }))
      expect(over.status).toBe(413)
      expect(((await over.json()) as { errcode: string }).errcode).toBe('M_TOO_LARGE')
      const exactly = await post(JSON.stringify({ data: 'x'.repeat(100) }))
      expect(exactly.status).toBe(200)
      const { id, sequence_token } = (await exactly.json()) as { id: string; sequence_token: string }
      expect((await (await fetch(`${small.base}${id}`)).arrayBuffer()).byteLength).toBe(100)
      const put = await fetch(`${small.origin}${MSC4388_STABLE}/${id}`, { method: 'PUT', body: JSON.stringify({ sequence_token, data: 'y'.repeat(101) }) })
      expect(put.status).toBe(413)
      // Room for every byte of 100 escaped as \u00XX, and no more: a 25 KB body is refused unread.
      const escaped = await post(JSON.stringify({ data: '\u0001'.repeat(100) }))
      expect(escaped.status).toBe(200)
      const huge = await post(JSON.stringify({ data: 'x'.repeat(100), padding: ' '.repeat(24_000) }))
      expect(huge.status).toBe(413)
    } finally {
      await small.close()
    }
  })
})
