import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, create, startServer } from './harness.ts'

let server: TestServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

const url = (id: string) => `${server.base}${id}`

/** Header values that all mean "the current tag", for If-None-Match and If-Match alike. */
const CURRENT_TAG_CONDITIONS: [string, (etag: string) => string][] = [
  ['the current tag', (etag) => etag],
  ['a proxy-weakened current tag', (etag) => `W/${etag}`],
  ['a list holding the current tag', (etag) => `"other", ${etag}`],
  ['*', () => '*'],
]

describe('If-None-Match on GET', () => {
  it.each(CURRENT_TAG_CONDITIONS)('should answer 304 with ETag, Expires and Last-Modified for %s', async (_name, header) => {
    const { id, etag, response } = await create(server)
    const read = await fetch(url(id), { headers: { 'if-none-match': header(etag) } })
    expect(read.status).toBe(304)
    expect(read.headers.get('etag')).toBe(etag)
    expect(read.headers.get('expires')).toBe(response.headers.get('expires'))
    expect(read.headers.get('last-modified')).toBe(response.headers.get('last-modified'))
    expect(read.headers.get('access-control-allow-origin')).toBe('*')
    expect(await read.text()).toBe('')
  })

  it('should answer 200 with the payload when the tag is outdated', async () => {
    const { id, etag } = await create(server, 'v1')
    await fetch(url(id), { method: 'PUT', body: 'v2' })
    const read = await fetch(url(id), { headers: { 'if-none-match': etag } })
    expect(read.status).toBe(200)
    expect(await read.text()).toBe('v2')
  })

  it('should answer 400 M_INVALID_PARAM for a malformed header', async () => {
    const { id } = await create(server)
    const read = await fetch(url(id), { headers: { 'if-none-match': 'not-a-tag' } })
    expect(read.status).toBe(400)
    expect(read.headers.get('content-type')).toBe('application/json')
    expect(await read.json()).toMatchObject({ errcode: 'M_INVALID_PARAM' })
  })

  it('should answer 404 for an unknown id even when the tag is *', async () => {
    const read = await fetch(url('AAAAAAAAAAAAAAAAAAAAAA'), { headers: { 'if-none-match': '*' } })
    expect(read.status).toBe(404)
  })
})

describe('If-Match on PUT', () => {
  it.each(CURRENT_TAG_CONDITIONS)('should accept %s', async (_name, header) => {
    const { id, etag } = await create(server)
    const put = await fetch(url(id), { method: 'PUT', body: 'new', headers: { 'if-match': header(etag) } })
    expect(put.status).toBe(202)
    expect(await (await fetch(url(id))).text()).toBe('new')
  })

  it('should answer 412 with the current headers and MSC4108 code, and change nothing', async () => {
    const { id, etag, response } = await create(server, 'original', 'text/plain')
    const put = await fetch(url(id), { method: 'PUT', body: 'overwrite', headers: { 'if-match': '"stale"', 'content-type': 'x/y' } })
    expect(put.status).toBe(412)
    expect(put.headers.get('etag')).toBe(etag)
    expect(put.headers.get('expires')).toBe(response.headers.get('expires'))
    expect(put.headers.get('last-modified')).toBe(response.headers.get('last-modified'))
    expect(put.headers.get('content-type')).toBe('application/json')
    expect(await put.json()).toEqual({
      errcode: 'M_CONCURRENT_WRITE',
      error: expect.any(String),
      'org.matrix.msc4108.errcode': 'M_CONCURRENT_WRITE',
    })
    const read = await fetch(url(id))
    expect(await read.text()).toBe('original')
    expect(read.headers.get('content-type')).toBe('text/plain')
    expect(read.headers.get('etag')).toBe(etag)
  })

  it.each(['', 'abc', '"unterminated', '"a" "b"', 'W/'])('should answer 400 for malformed If-Match %j and change nothing', async (header) => {
    const { id, etag } = await create(server, 'keep')
    const put = await fetch(url(id), { method: 'PUT', body: 'lost', headers: { 'if-match': header } })
    expect(put.status).toBe(400)
    expect(await put.json()).toMatchObject({ errcode: 'M_INVALID_PARAM' })
    const read = await fetch(url(id))
    expect(await read.text()).toBe('keep')
    expect(read.headers.get('etag')).toBe(etag)
  })

  it('should let exactly one of 100 concurrent PUTs with the same If-Match win', async () => {
    const { id, etag } = await create(server, 'start')
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => fetch(url(id), { method: 'PUT', body: `writer ${i}`, headers: { 'if-match': etag } })),
    )
    const statuses = responses.map((r) => r.status)
    expect(statuses.filter((s) => s === 202)).toHaveLength(1)
    expect(statuses.filter((s) => s === 412)).toHaveLength(99)
    const winner = responses.find((r) => r.status === 202)!
    const read = await fetch(url(id))
    expect(read.headers.get('etag')).toBe(winner.headers.get('etag'))
    // Every loser was told the winner's tag, so it can re-read and retry.
    for (const loser of responses.filter((r) => r.status === 412)) {
      expect(loser.headers.get('etag')).toBe(winner.headers.get('etag'))
    }
    expect(await read.text()).toMatch(/^writer \d+$/)
  })

  it('should answer 404 for a PUT to an unknown id', async () => {
    const put = await fetch(url('AAAAAAAAAAAAAAAAAAAAAA'), { method: 'PUT', body: 'x' })
    expect(put.status).toBe(404)
    expect(await put.json()).toMatchObject({ errcode: 'M_NOT_FOUND' })
  })
})
