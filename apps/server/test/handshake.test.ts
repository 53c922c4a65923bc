import { parseHttpDate } from '@rendezvous/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, bytes, create, startServer } from './harness.ts'

let server: TestServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

/** Headers docs/protocol.md#headers puts on every response about a live rendezvous. */
function expectLiveHeaders(response: Response): void {
  expect(response.headers.get('etag')).toMatch(/^"[\x21\x23-\x7e]{1,62}"$/)
  expect(parseHttpDate(response.headers.get('expires') ?? '')).not.toBeNull()
  expect(parseHttpDate(response.headers.get('last-modified') ?? '')).not.toBeNull()
  expect(response.headers.get('cache-control')).toBe('no-store, no-transform')
  expect(response.headers.get('pragma')).toBe('no-cache')
  expect(response.headers.get('access-control-allow-origin')).toBe('*')
}

describe('the login handshake of the seed draft', () => {
  it('should carry messages both ways, with ETags telling each side when to read', async () => {
    // Device A creates the rendezvous with its first message.
    const a = await create(server, 'Hello from A', 'text/plain')
    const url = `${server.base}${a.id}`

    // Device B reads it.
    const bRead = await fetch(url)
    expect(bRead.status).toBe(200)
    expect(await bRead.text()).toBe('Hello from A')
    const etagSeenByB = bRead.headers.get('etag')!
    expect(etagSeenByB).toBe(a.etag)

    // Device A polls: nothing new yet.
    const aPoll = await fetch(url, { headers: { 'if-none-match': a.etag } })
    expect(aPoll.status).toBe(304)
    expect(await aPoll.text()).toBe('')
    expectLiveHeaders(aPoll)

    // Device B answers, conditional on what it read.
    const bWrite = await fetch(url, { method: 'PUT', body: 'Hello from B', headers: { 'content-type': 'text/plain', 'if-match': etagSeenByB } })
    expect(bWrite.status).toBe(202)
    expectLiveHeaders(bWrite)
    const etagAfterB = bWrite.headers.get('etag')!
    expect(etagAfterB).not.toBe(a.etag)

    // Device A's next poll sees B's message.
    const aRead = await fetch(url, { headers: { 'if-none-match': a.etag } })
    expect(aRead.status).toBe(200)
    expect(await aRead.text()).toBe('Hello from B')
    expect(aRead.headers.get('etag')).toBe(etagAfterB)

    // A replies; B, polling with its own last ETag, sees the reply.
    const aWrite = await fetch(url, { method: 'PUT', body: 'Reply from A', headers: { 'if-match': etagAfterB } })
    expect(aWrite.status).toBe(202)
    const bPoll = await fetch(url, { headers: { 'if-none-match': etagAfterB } })
    expect(bPoll.status).toBe(200)
    expect(await bPoll.text()).toBe('Reply from A')

    // A cancels; everyone now gets 404.
    const cancel = await fetch(url, { method: 'DELETE' })
    expect(cancel.status).toBe(204)
    expect(cancel.headers.get('access-control-allow-origin')).toBe('*')
    const gone = await fetch(url)
    expect(gone.status).toBe(404)
    expect(await gone.json()).toEqual({ errcode: 'M_NOT_FOUND', error: expect.any(String) })
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(404)
  })
})

describe('POST / (create)', () => {
  it('should answer 200 with id, max_bytes, an absolute url and every header the contract lists', async () => {
    const before = Date.now()
    const { id, response } = await create(server, 'x')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/json')
    const body = await response.json()
    expect(body).toEqual({ id, max_bytes: 10240, url: `${server.base}${id}` })
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expectLiveHeaders(response)
    expect(response.headers.get('location')).toBe(id)
    expect(response.headers.get('x-max-bytes')).toBe('10240')
    const expires = parseHttpDate(response.headers.get('expires')!)!
    expect(expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 119_000)
    expect(expires).toBeLessThanOrEqual(Date.now() + 121_000)
    expect(Number(response.headers.get('content-length'))).toBe(new TextEncoder().encode(JSON.stringify(body)).length)
  })

  it('should let the Location header resolve against the POST URL to the rendezvous URL', async () => {
    const { id, response } = await create(server)
    expect(new URL(response.headers.get('location')!, server.base).href).toBe(`${server.base}${id}`)
  })

  it('should accept an empty body and serve it back empty as application/octet-stream', async () => {
    const response = await fetch(server.base, { method: 'POST' })
    expect(response.status).toBe(200)
    const { id } = (await response.json()) as { id: string }
    const read = await fetch(`${server.base}${id}`)
    expect(read.status).toBe(200)
    expect(read.headers.get('content-type')).toBe('application/octet-stream')
    expect(read.headers.get('content-length')).toBe('0')
    expect((await read.arrayBuffer()).byteLength).toBe(0)
  })

  it('should issue different ids and ETags for identical payloads', async () => {
    const a = await create(server, 'same')
    const b = await create(server, 'same')
    expect(a.id).not.toBe(b.id)
    expect(a.etag).not.toBe(b.etag)
  })
})

describe('payload fidelity', () => {
  it('should round-trip all 256 byte values exactly, on create and on update', async () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const reversed = all.slice().reverse()
    const { id } = await create(server, all, 'application/octet-stream')
    const first = await fetch(`${server.base}${id}`)
    expect(new Uint8Array(await first.arrayBuffer())).toEqual(all)
    expect(first.headers.get('content-length')).toBe('256')
    expect((await fetch(`${server.base}${id}`, { method: 'PUT', body: reversed })).status).toBe(202)
    const second = await fetch(`${server.base}${id}`)
    expect(new Uint8Array(await second.arrayBuffer())).toEqual(reversed)
  })

  it('should serve the same stored bytes to every reader', async () => {
    const { id } = await create(server, bytes('stable'))
    for (let i = 0; i < 5; i++) expect(await (await fetch(`${server.base}${id}`)).text()).toBe('stable')
  })

  it.each(['text/plain', 'application/json', 'application/x-custom; Foo="Bar"; charset=UTF-8', 'TEXT/PLAIN', 'application/octet-stream'])(
    'should echo Content-Type %j verbatim on create and on update',
    async (contentType) => {
      const { id } = await create(server, 'x', contentType)
      expect((await fetch(`${server.base}${id}`)).headers.get('content-type')).toBe(contentType)
      await fetch(`${server.base}${id}`, { method: 'PUT', body: 'y', headers: { 'content-type': contentType } })
      expect((await fetch(`${server.base}${id}`)).headers.get('content-type')).toBe(contentType)
    },
  )

  it('should default a PUT without Content-Type to application/octet-stream', async () => {
    const { id } = await create(server, 'x', 'text/plain')
    const put = await fetch(`${server.base}${id}`, { method: 'PUT', body: bytes('y') })
    expect(put.status).toBe(202)
    expect((await fetch(`${server.base}${id}`)).headers.get('content-type')).toBe('application/octet-stream')
  })

  it('should answer a PUT with 202, an empty text/plain body and the new ETag', async () => {
    const { id, etag } = await create(server)
    const put = await fetch(`${server.base}${id}`, { method: 'PUT', body: 'next' })
    expect(put.status).toBe(202)
    expect(put.headers.get('content-type')).toBe('text/plain')
    expect(put.headers.get('content-length')).toBe('0')
    expect(await put.text()).toBe('')
    expect(put.headers.get('etag')).not.toBe(etag)
    expect((await fetch(`${server.base}${id}`)).headers.get('etag')).toBe(put.headers.get('etag'))
  })

  it('should give every PUT of identical bytes a new ETag', async () => {
    const { id, etag } = await create(server, 'same')
    const etags = new Set([etag])
    for (let i = 0; i < 5; i++) {
      const put = await fetch(`${server.base}${id}`, { method: 'PUT', body: 'same' })
      etags.add(put.headers.get('etag')!)
    }
    expect(etags.size).toBe(6)
  })

  it('should keep Expires fixed across writes and move Last-Modified forward', async () => {
    const created = await create(server)
    const put = await fetch(`${server.base}${created.id}`, { method: 'PUT', body: 'later' })
    expect(put.headers.get('expires')).toBe(created.response.headers.get('expires'))
    const lastModified = (r: Response) => parseHttpDate(r.headers.get('last-modified')!)!
    expect(lastModified(put)).toBeGreaterThanOrEqual(lastModified(created.response))
  })

  it('should answer HEAD like GET without a body', async () => {
    const { id, etag } = await create(server, 'head me', 'text/plain')
    const head = await fetch(`${server.base}${id}`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('etag')).toBe(etag)
    expect(head.headers.get('content-type')).toBe('text/plain')
    expect(await head.text()).toBe('')
  })
})
