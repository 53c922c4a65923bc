import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, create, rawRequest, startServer } from './harness.ts'

let server: TestServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

async function expectJsonError(response: Response, status: number, errcode: string): Promise<void> {
  expect(response.status).toBe(status)
  expect(response.headers.get('content-type')).toBe('application/json')
  expect(response.headers.get('access-control-allow-origin')).toBe('*')
  expect(await response.json()).toEqual({ errcode, error: expect.any(String) })
}

describe('ids that were never issued', () => {
  it.each([
    ['a well-formed unknown id', 'AAAAAAAAAAAAAAAAAAAAAA'],
    ['a very long id', 'A'.repeat(5000)],
    ['a one-character id', 'A'],
    ['percent-encoded characters', '%41%42%43%2F%2e%2e'],
    ['an encoded traversal', '..%2F..%2Fetc%2Fpasswd'],
    ['unicode', '%E2%82%AC%F0%9F%98%80'],
    ['a NUL byte', 'abc%00def'],
    ['base64 (not base64url) characters', 'AAAAAAAAAAAAAAAAAAAA%2B%2F'],
  ])('should answer 404 for %s on GET, PUT and DELETE', async (_name, id) => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const response = await fetch(`${server.base}${id}`, { method, body: method === 'PUT' ? 'x' : undefined })
      expect(response.status, method).toBe(404)
      expect(response.headers.get('access-control-allow-origin')).toBe('*')
      expect(((await response.json()) as { errcode: string }).errcode).toMatch(/^M_(NOT_FOUND|UNRECOGNIZED)$/)
    }
  })

  it('should answer 404, never 5xx, for raw traversal paths', async () => {
    for (const path of ['/../../etc/passwd', '/./x', '//x', '/%', '/%zz']) {
      const response = await rawRequest(server.port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
      expect(response.status, path).toBeGreaterThanOrEqual(400)
      expect(response.status, path).toBeLessThan(500)
    }
  })
})

describe('short Host headers', () => {
  it.each(['x', 'ab', 'a.b', '[::1]'])('should route a request with Host %j like any other', async (host) => {
    const created = await rawRequest(server.port, `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`)
    expect(created.status).toBe(200)
    const id = /"id":"([A-Za-z0-9_-]{22})"/.exec(created.text)?.[1]
    const read = await rawRequest(server.port, `GET /${id} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
    expect(read.status).toBe(200)
    expect(read.text.endsWith('hi')).toBe(true)
  })
})

describe('requests without a Host', () => {
  const CREATE_PATHS = ['/', '/_matrix/client/unstable/org.matrix.msc3886/rendezvous', '/_matrix/client/unstable/org.matrix.msc4108/rendezvous']
  const requests = (path: string) => [
    `POST ${path} HTTP/1.0\r\nContent-Length: 1\r\n\r\nx`,
    `POST ${path} HTTP/1.0\r\nHost:\r\nContent-Length: 1\r\n\r\nx`,
    `POST ${path} HTTP/1.1\r\nHost:\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`,
  ]

  // Regression: the seed create answered `"url":":///<id>"`, which breaks the create schema, and the
  // MSC4108 path answered 404.
  it.each(CREATE_PATHS)('should refuse a create on %s with 400 naming the missing Host, never a broken URL', async (path) => {
    for (const raw of requests(path)) {
      const response = await rawRequest(server.port, raw)
      // Bun itself may refuse an HTTP/1.1 request without Host before our code runs; anything it
      // lets through must get our answer.
      if (response.status === 400 && !response.text.includes('errcode')) continue
      expect(response.status, raw).toBe(400)
      expect(response.text).toContain('M_INVALID_PARAM')
      expect(response.text).toContain('Host')
      expect(response.text).not.toContain(':///')
    }
  })

  it('should build the URL from RENDEZVOUS_PUBLIC_BASE_URL when set', async () => {
    const configured = await startServer({ RENDEZVOUS_PUBLIC_BASE_URL: 'https://rendezvous.example' })
    try {
      for (const path of CREATE_PATHS) {
        const response = await rawRequest(configured.port, `POST ${path} HTTP/1.0\r\nContent-Length: 1\r\n\r\nx`)
        expect(response.status, path).toBeLessThan(300)
        expect(response.text).toMatch(/https:\/\/rendezvous\.example\/[A-Za-z0-9_-]{22}/)
      }
    } finally {
      await configured.close()
    }
  })
})

describe('unknown paths and methods', () => {
  it('should answer 404 M_UNRECOGNIZED for paths outside the API', async () => {
    await expectJsonError(await fetch(`${server.origin}/a/b/c`), 404, 'M_UNRECOGNIZED')
    await expectJsonError(await fetch(`${server.origin}/a/b`, { method: 'POST', body: 'x' }), 404, 'M_UNRECOGNIZED')
  })

  it.each(['PATCH', 'POST', 'PROPFIND', 'MKCOL'])('should answer 405 with Allow for %s on a rendezvous', async (method) => {
    const { id } = await create(server)
    const response = await fetch(`${server.base}${id}`, { method, body: 'x' })
    await expectJsonError(response, 405, 'M_UNRECOGNIZED')
    expect(response.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE, OPTIONS')
  })

  it.each(['GET', 'PUT', 'DELETE', 'PATCH'])('should answer 405 with Allow for %s on the create path', async (method) => {
    const response = await fetch(server.base, { method, body: method === 'GET' ? undefined : 'x' })
    await expectJsonError(response, 405, 'M_UNRECOGNIZED')
    expect(response.headers.get('allow')).toBe('POST, OPTIONS')
  })

  it('should leave the rendezvous untouched after a refused method', async () => {
    const { id, etag } = await create(server, 'keep')
    await fetch(`${server.base}${id}`, { method: 'PATCH', body: 'lost' })
    const read = await fetch(`${server.base}${id}`)
    expect(await read.text()).toBe('keep')
    expect(read.headers.get('etag')).toBe(etag)
  })
})

describe('CORS', () => {
  const ALLOW_HEADERS = 'Authorization, Content-Type, If-Match, If-None-Match, Prefer'

  async function expectPreflight(url: string, method = 'PUT', requested = 'if-match, content-type, prefer'): Promise<void> {
    const response = await fetch(url, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': method, 'access-control-request-headers': requested },
    })
    expect(response.status, url).toBe(204)
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
    expect(response.headers.get('access-control-allow-methods')).toBe('GET, PUT, POST, DELETE')
    expect(response.headers.get('access-control-allow-headers')).toBe(ALLOW_HEADERS)
    expect(response.headers.get('access-control-expose-headers')).toBe('ETag, Expires, Last-Modified, Location, X-Max-Bytes, Retry-After, Preference-Applied')
    expect(Number(response.headers.get('access-control-max-age'))).toBeGreaterThan(0)
    expect(await response.text()).toBe('')
  }

  it.each(['/', '/AAAAAAAAAAAAAAAAAAAAAA', '/unknown/deep/path', '/health'])(
    'should answer a preflight on %s with 204 and the allowed methods and headers',
    async (path) => {
      await expectPreflight(`${server.origin}${path}`)
    },
  )

  // Regression: the create paths of the Matrix dialects (routes that answer every method) took the
  // OPTIONS request themselves and answered 405, so no browser could create through them.
  it.each([
    '/_matrix/client/unstable/org.matrix.msc3886/rendezvous',
    '/_matrix/client/unstable/org.matrix.msc4108/rendezvous',
    '/_matrix/client/v1/rendezvous',
    '/_matrix/client/unstable/io.element.msc4388/rendezvous',
  ])('should answer the preflight of a JSON create on %s', async (path) => {
    await expectPreflight(`${server.origin}${path}`, 'POST', 'content-type, authorization')
  })

  it('should answer a preflight on every route the app registers, with a prefix and the demo on', async () => {
    const full = await startServer({ RENDEZVOUS_PREFIX: '/rz', RENDEZVOUS_DEMO: 'on' })
    try {
      const paths = new Set(full.app.routes.map((route) => route.path))
      expect(paths.size).toBeGreaterThan(10)
      for (const path of paths) {
        const concrete = path.replace(':id', 'AAAAAAAAAAAAAAAAAAAAAA').replace(':txnId', 'txn1').replace('*', 'any/deep/path')
        await expectPreflight(`${full.origin}${concrete}`, 'POST', 'content-type')
        if (concrete.length > 1 && concrete.endsWith('/')) await expectPreflight(`${full.origin}${concrete.slice(0, -1)}`, 'POST', 'content-type')
      }
      // The prefix itself, without and with its trailing slash.
      await expectPreflight(`${full.origin}/rz`, 'POST', 'content-type')
      await expectPreflight(`${full.origin}/rz/`, 'POST', 'content-type')
    } finally {
      await full.close()
    }
  })

  it('should expose ETag and friends on ordinary responses and errors', async () => {
    const { id, response } = await create(server)
    for (const r of [response, await fetch(`${server.base}${id}`), await fetch(`${server.origin}/nope/nope`)]) {
      expect(r.headers.get('access-control-allow-origin')).toBe('*')
      expect(r.headers.get('access-control-expose-headers')).toContain('ETag')
    }
  })
})

describe('health', () => {
  it('should answer /health and /ready with 200 JSON', async () => {
    for (const path of ['/health', '/ready']) {
      const response = await fetch(`${server.origin}${path}`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('application/json')
      expect(await response.json()).toHaveProperty('status')
    }
  })
})

describe('path prefix and public URL', () => {
  it('should serve the API under a prefix only, with URLs that point there', async () => {
    const prefixed = await startServer({ RENDEZVOUS_PREFIX: '/rz' })
    try {
      const { id, url, response } = await create(prefixed)
      expect(prefixed.base).toBe(`${prefixed.origin}/rz/`)
      expect(url).toBe(`${prefixed.origin}/rz/${id}`)
      expect(new URL(response.headers.get('location')!, prefixed.base).href).toBe(url)
      expect((await fetch(url)).status).toBe(200)
      expect((await fetch(`${prefixed.origin}/${id}`)).status).toBe(404)
      // POST without the trailing slash works too, and its Location still resolves correctly.
      const bare = await fetch(`${prefixed.origin}/rz`, { method: 'POST', body: 'x' })
      expect(bare.status).toBe(200)
      const bareId = ((await bare.json()) as { id: string }).id
      expect(new URL(bare.headers.get('location')!, `${prefixed.origin}/rz`).href).toBe(`${prefixed.origin}/rz/${bareId}`)
    } finally {
      await prefixed.close()
    }
  })

  it('should build URLs from RENDEZVOUS_PUBLIC_BASE_URL when set', async () => {
    const configured = await startServer({ RENDEZVOUS_PUBLIC_BASE_URL: 'https://rendezvous.example/_rz/' })
    try {
      const { id, url } = await create(configured)
      expect(url).toBe(`https://rendezvous.example/_rz/${id}`)
    } finally {
      await configured.close()
    }
  })

  it('should ignore X-Forwarded-* unless the proxy is trusted', async () => {
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'public.example' }
    const untrusted = await fetch(server.base, { method: 'POST', headers: forwarded })
    expect(((await untrusted.json()) as { url: string }).url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//)
    const trusting = await startServer({ RENDEZVOUS_TRUST_PROXY: '127.0.0.1' })
    try {
      const trusted = await fetch(trusting.base, { method: 'POST', headers: forwarded })
      expect(((await trusted.json()) as { url: string }).url).toMatch(/^https:\/\/public\.example\/[A-Za-z0-9_-]{22}$/)
    } finally {
      await trusting.close()
    }
  })
})
