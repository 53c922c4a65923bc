import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, create, rawRequest, startServer } from './harness.ts'

let server: TestServer
beforeAll(async () => {
  server = await startServer({ RENDEZVOUS_MAX_BYTES: '64', RENDEZVOUS_MAX_WAIT_SECONDS: '1', RENDEZVOUS_BODY_TIMEOUT_SECONDS: '1' })
})
afterAll(() => server.close())

/** What the tracked rendezvous must hold: it changes only through an accepted PUT. */
interface Tracked {
  id: string
  etag: string
  payload: Uint8Array
}

async function newTracked(): Promise<Tracked> {
  const payload = new Uint8Array([1, 2, 3, 250])
  const { id, etag } = await create(server, payload)
  return { id, etag, payload }
}

const printable = fc.stringMatching(/^[\x20-\x7e]{0,40}$/)
const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND']

describe('property: arbitrary requests', () => {
  it('should never answer 5xx, and a write that is not accepted changes nothing', async () => {
    let tracked = await newTracked()
    const request = fc.record({
      method: fc.constantFrom(...METHODS),
      path: fc.oneof(
        fc.constant('TRACKED'),
        fc.constant(''),
        fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => encodeURIComponent(s)),
        fc.stringMatching(/^[A-Za-z0-9_-]{22}$/),
        fc.array(printable.map(encodeURIComponent), { maxLength: 4 }).map((parts) => parts.join('/')),
      ),
      ifMatch: fc.option(
        fc.oneof(
          fc.constant('TRACKED'),
          fc.constant('*'),
          printable,
          printable.map((s) => `"${s}"`),
        ),
        { nil: undefined },
      ),
      ifNoneMatch: fc.option(fc.oneof(fc.constant('TRACKED'), printable), { nil: undefined }),
      contentType: fc.option(printable, { nil: undefined }),
      prefer: fc.option(fc.oneof(fc.constant('wait=1'), printable), { nil: undefined }),
      body: fc.uint8Array({ maxLength: 100 }),
    })

    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const path = r.path === 'TRACKED' ? tracked.id : r.path
        const headers: Record<string, string> = {}
        if (r.ifMatch !== undefined) headers['if-match'] = r.ifMatch === 'TRACKED' ? tracked.etag : r.ifMatch
        if (r.ifNoneMatch !== undefined) headers['if-none-match'] = r.ifNoneMatch === 'TRACKED' ? tracked.etag : r.ifNoneMatch
        if (r.contentType !== undefined) headers['content-type'] = r.contentType
        if (r.prefer !== undefined) headers['prefer'] = r.prefer
        const hasBody = !['GET', 'HEAD', 'OPTIONS'].includes(r.method)
        const response = await fetch(`${server.base}${path}`, { method: r.method, headers, body: hasBody ? r.body : undefined })
        await response.arrayBuffer()
        expect(response.status).toBeLessThan(500)

        const aboutTracked = path === tracked.id
        if (aboutTracked && r.method === 'PUT' && response.status === 202) {
          tracked = { ...tracked, etag: response.headers.get('etag')!, payload: r.body }
        } else if (aboutTracked && r.method === 'DELETE' && response.status === 204) {
          tracked = await newTracked()
        }
        const read = await fetch(`${server.base}${tracked.id}`)
        expect(read.status).toBe(200)
        expect(read.headers.get('etag')).toBe(tracked.etag)
        expect(new Uint8Array(await read.arrayBuffer())).toEqual(tracked.payload)
      }),
      { numRuns: 400 },
    )
  }, 120_000)
})

describe('property: raw malformed HTTP', () => {
  it('should never answer with a 5xx other than 505 for a bad version, and stay healthy', async () => {
    const tracked = await newTracked()
    const line = fc.stringMatching(/^[\x00-\x7f]{0,60}$/)
    const raw = fc.record({
      method: fc.oneof(fc.constantFrom(...METHODS, 'FOO', ''), line),
      target: fc.oneof(fc.constant(`/${tracked.id}`), fc.constant('/'), line),
      version: fc.oneof(fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2', 'HTTP/1.1 extra', ''), line),
      headers: fc.array(
        fc.oneof(
          fc.constantFrom(
            'Content-Length: 5',
            'Content-Length: -1',
            'Content-Length: 99999999999',
            'Transfer-Encoding: chunked',
            'If-Match: *',
            `If-Match: ${tracked.etag}`,
          ),
          line,
        ),
        { maxLength: 5 },
      ),
      body: line,
    })
    let deletedTracked = false
    await fc.assert(
      fc.asyncProperty(raw, async (r) => {
        if (r.method === 'DELETE' && r.target === `/${tracked.id}`) deletedTracked = true
        const text = `${r.method} ${r.target} ${r.version}\r\nHost: localhost\r\n${r.headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n${r.body}`
        const response = await rawRequest(server.port, text, 300)
        // 505 is the HTTP parser's answer to a version it does not speak (see README).
        if (response.status >= 500) expect(response.status).toBe(505)
      }),
      { numRuns: 150 },
    )
    expect((await fetch(`${server.origin}/health`)).status).toBe(200)
    // Raw PUTs may have replaced the payload legitimately; unless a raw DELETE named it, the
    // rendezvous must live on.
    const read = await fetch(`${server.base}${tracked.id}`)
    if (deletedTracked) expect([200, 404]).toContain(read.status)
    else expect(read.status).toBe(200)
  }, 120_000)
})
