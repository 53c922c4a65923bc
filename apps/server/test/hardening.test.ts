import { describe, expect, it } from 'vitest'
import { type TestServer, create, rawRequest, sleep, startServer } from './harness.ts'
import { loadConfig } from '../src/config.ts'
import { jsonLogger } from '../src/log.ts'
import { spawnMain } from './process.ts'

async function withServer<T>(env: Record<string, string>, run: (server: TestServer) => Promise<T>): Promise<T> {
  const server = await startServer(env)
  try {
    return await run(server)
  } finally {
    await server.close()
  }
}

describe('rate limits', () => {
  it('should meet a burst of 400 creates from one address with 429, Retry-After and retry_after_ms under the default limits', async () => {
    const loaded = loadConfig({}, [])
    if (loaded.kind !== 'config' || loaded.config.createRateLimit.kind !== 'bucket') throw new Error('default create limit is off')
    const { requests, seconds } = loaded.config.createRateLimit
    await withServer({ RENDEZVOUS_CREATE_RATE_LIMIT: `${requests}/${seconds}` }, async (server) => {
      const statuses: number[] = []
      let refused: Response | undefined
      for (let i = 0; i < 400; i++) {
        const response = await fetch(server.base, { method: 'POST', body: 'x' })
        statuses.push(response.status)
        if (response.status === 429 && !refused) refused = response
        else await response.arrayBuffer()
      }
      // The burst allowance, plus whatever trickled back in while the loop ran (1 per second).
      const accepted = statuses.filter((s) => s === 200).length
      expect(accepted).toBeGreaterThanOrEqual(requests)
      expect(accepted).toBeLessThan(requests + 10)
      expect(statuses.filter((s) => s === 429).length).toBe(400 - accepted)
      expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      const body = (await refused!.json()) as { errcode: string; retry_after_ms: number }
      expect(body.errcode).toBe('M_LIMIT_EXCEEDED')
      expect(body.retry_after_ms).toBeGreaterThan(0)
      expect(body.retry_after_ms).toBeLessThanOrEqual((seconds / requests) * 1000)
    })
  })

  it('should keep reads and writes on their own budget, and refuse without looking the rendezvous up', async () => {
    await withServer({ RENDEZVOUS_RATE_LIMIT: '5/60', RENDEZVOUS_CREATE_RATE_LIMIT: '1/60' }, async (server) => {
      const { id, etag } = await create(server)
      expect((await fetch(server.base, { method: 'POST' })).status).toBe(429)
      for (let i = 0; i < 5; i++) expect((await fetch(`${server.base}${id}`)).status).toBe(200)
      const limited = await fetch(`${server.base}${id}`)
      expect(limited.status).toBe(429)
      // A refusal costs no store read, so it cannot name the current state: clients keep their tag.
      expect(limited.headers.get('etag')).toBeNull()
      expect(limited.headers.get('retry-after')).not.toBeNull()
      const put = await fetch(`${server.base}${id}`, { method: 'PUT', body: 'refused' })
      expect(put.status).toBe(429)
      expect((await server.store.get(id))!.etag).toBe(etag)
      expect((await server.store.stats()).payloadBytes).toBe(5)
    })
  })

  it('should refill the bucket over time', async () => {
    await withServer({ RENDEZVOUS_CREATE_RATE_LIMIT: '2/1' }, async (server) => {
      const burst = await Promise.all([1, 2, 3].map(() => fetch(server.base, { method: 'POST' })))
      expect(burst.map((r) => r.status).sort()).toEqual([200, 200, 429])
      await sleep(600)
      expect((await fetch(server.base, { method: 'POST' })).status).toBe(200)
    })
  })

  it('should ignore X-Forwarded-For from an untrusted peer', async () => {
    await withServer({ RENDEZVOUS_CREATE_RATE_LIMIT: '1/60' }, async (server) => {
      expect((await fetch(server.base, { method: 'POST', headers: { 'x-forwarded-for': '203.0.113.1' } })).status).toBe(200)
      expect((await fetch(server.base, { method: 'POST', headers: { 'x-forwarded-for': '203.0.113.2' } })).status).toBe(429)
    })
  })

  it('should key on the forwarded client address behind a trusted proxy', async () => {
    await withServer({ RENDEZVOUS_CREATE_RATE_LIMIT: '1/60', RENDEZVOUS_TRUST_PROXY: '1' }, async (server) => {
      const from = (address: string) => fetch(server.base, { method: 'POST', headers: { 'x-forwarded-for': address } })
      expect((await from('203.0.113.1')).status).toBe(200)
      expect((await from('203.0.113.2')).status).toBe(200)
      expect((await from('203.0.113.1')).status).toBe(429)
      // A client cannot escape by prepending its own entries: only the hop the proxy added counts.
      expect((await from('198.51.100.7, 203.0.113.1')).status).toBe(429)
    })
  })
})

describe('proxy addresses in every spelling', () => {
  // Regression: RENDEZVOUS_TRUST_PROXY=0:0:0:0:0:0:0:1 did not match the peer ::1, so the proxy was
  // silently untrusted; a port after a forwarded address, or brackets, made a fresh bucket.
  it('should trust a proxy named in long IPv6 form and bucket its clients by canonical address', async () => {
    await withServer({ HOST: '::1', RENDEZVOUS_CREATE_RATE_LIMIT: '1/60', RENDEZVOUS_TRUST_PROXY: '0:0:0:0:0:0:0:1' }, async (server) => {
      const origin = `http://[::1]:${server.port}/`
      const from = (address: string) => fetch(origin, { method: 'POST', headers: { 'x-forwarded-for': address } })
      expect((await from('10.1.1.1')).status).toBe(200)
      expect((await from('10.1.1.1:1234')).status).toBe(429)
      expect((await from('10.1.1.2:1234')).status).toBe(200)
      expect((await from('[2001:db8:1:2::c]')).status).toBe(200)
      // The same /64, spelt differently and with a port.
      expect((await from('[2001:DB8:1:2:0:0:0:d]:443')).status).toBe(429)
    })
  })

  it('should refuse a malformed RENDEZVOUS_TRUST_PROXY at start with one line naming it', async () => {
    const child = spawnMain([], { RENDEZVOUS_TRUST_PROXY: '10.0.0.1, 10.0.0.999' })
    const err = await new Response(child.stderr).text()
    expect(await child.exited).toBe(2)
    expect(err.trim().split('\n')).toHaveLength(1)
    expect(err).toContain('RENDEZVOUS_TRUST_PROXY')
    expect(err).toContain('10.0.0.999')
  })
})

describe('the demo under the same limits as the API', () => {
  // Regression: /demo/qr (tens of milliseconds of CPU per code) skipped the rate limit and the
  // in-flight bound.
  it('should rate-limit QR codes and count them in the metrics', async () => {
    await withServer({ RENDEZVOUS_DEMO: 'on', RENDEZVOUS_RATE_LIMIT: '3/60' }, async (server) => {
      const qr = () => fetch(`${server.origin}/demo/qr?data=${'x'.repeat(1000)}`)
      for (let i = 0; i < 3; i++) {
        const ok = await qr()
        expect(ok.status).toBe(200)
        expect(ok.headers.get('content-type')).toBe('image/svg+xml')
        await ok.arrayBuffer()
      }
      const limited = await qr()
      expect(limited.status).toBe(429)
      expect(((await limited.json()) as { errcode: string }).errcode).toBe('M_LIMIT_EXCEEDED')
      const metrics = await server.metrics()
      expect(metrics).toContain('rendezvous_http_requests_total{method="GET",route="/demo/qr",status="429"} 1')
    })
  })
})

describe('floods', () => {
  it('should refuse creates beyond max_sessions with 429, never 5xx, while earlier rendezvous keep working', async () => {
    await withServer({ RENDEZVOUS_MAX_SESSIONS: '200' }, async (server) => {
      const early = await Promise.all(Array.from({ length: 5 }, (_, i) => create(server, `early ${i}`)))
      const statuses = new Map<number, number>()
      for (let batch = 0; batch < 20; batch++) {
        const responses = await Promise.all(
          Array.from({ length: 100 }, () =>
            fetch(server.base, { method: 'POST', body: 'flood' }).then(async (r) => {
              await r.arrayBuffer()
              return r.status
            }),
          ),
        )
        for (const status of responses) statuses.set(status, (statuses.get(status) ?? 0) + 1)
      }
      expect(statuses.get(200)).toBe(195)
      expect(statuses.get(429)).toBe(2000 - 195)
      expect([...statuses.keys()].sort()).toEqual([200, 429])
      for (const [i, { id, etag }] of early.entries()) {
        const read = await fetch(`${server.base}${id}`)
        expect(await read.text()).toBe(`early ${i}`)
        const put = await fetch(`${server.base}${id}`, { method: 'PUT', body: 'reply', headers: { 'if-match': etag } })
        expect(put.status).toBe(202)
        expect((await fetch(`${server.base}${id}`, { method: 'DELETE' })).status).toBe(204)
      }
    })
  })

  it('should time out a slow body with 408, free it and leave the payload untouched', async () => {
    await withServer({ RENDEZVOUS_BODY_TIMEOUT_SECONDS: '1' }, async (server) => {
      const { id, etag } = await create(server, 'intact')
      const started = Date.now()
      // Declares 50 bytes, sends 5, then stalls.
      const raw = `PUT /${id} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50\r\n\r\nhello`
      const response = await rawRequest(server.port, raw, 3000)
      expect(response.status).toBe(408)
      expect(Date.now() - started).toBeGreaterThanOrEqual(900)
      expect(Date.now() - started).toBeLessThan(2900)
      const read = await fetch(`${server.base}${id}`)
      expect(await read.text()).toBe('intact')
      expect(read.headers.get('etag')).toBe(etag)
    })
  })

  it('should bound requests in flight and answer 429 beyond the bound', async () => {
    await withServer({ RENDEZVOUS_MAX_IN_FLIGHT: '1', RENDEZVOUS_BODY_TIMEOUT_SECONDS: '2' }, async (server) => {
      // One slow body occupies the only slot.
      const stalled = rawRequest(server.port, `POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nab`, 3000)
      await sleep(200)
      const refused = await fetch(server.base, { method: 'POST', body: 'x' })
      expect(refused.status).toBe(429)
      expect(refused.headers.get('retry-after')).toBe('1')
      expect((await stalled).status).toBe(408)
      expect((await fetch(server.base, { method: 'POST', body: 'x' })).status).toBe(200)
    })
  })
})

describe('observability', () => {
  it('should log one line per request with method, route, status, duration and an id hash, never the id or payload', async () => {
    const lines: string[] = []
    const server = await startServer(
      {},
      jsonLogger('info', (line) => lines.push(line)),
    )
    try {
      const secret = 'top-secret-payload-4b1d'
      const { id, etag } = await create(server, secret)
      await fetch(`${server.base}${id}`)
      await fetch(`${server.base}${id}`, { method: 'PUT', body: `${secret}-2`, headers: { 'if-match': etag } })
      await fetch(`${server.base}${id}`, { method: 'DELETE' })
      await fetch(`${server.base}${id}`)
      const output = lines.join('')
      expect(output).not.toContain(id)
      expect(output).not.toContain(id.slice(0, 8))
      expect(output).not.toContain(secret)
      const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(records.map((r) => `${r['method']} ${r['route']} ${r['status']}`)).toEqual([
        'POST / 200',
        'GET /{id} 200',
        'PUT /{id} 202',
        'DELETE /{id} 204',
        'GET /{id} 404',
      ])
      const hashes = new Set(records.slice(1).map((r) => r['id_hash']))
      expect(hashes.size).toBe(1)
      expect([...hashes][0]).toMatch(/^[0-9a-f]{8}$/)
      for (const record of records) expect(typeof record['duration_ms']).toBe('number')
    } finally {
      await server.close()
    }
  })

  it('should expose Prometheus metrics for requests, latency, live state and refusals', async () => {
    await withServer({ RENDEZVOUS_MAX_SESSIONS: '1' }, async (server) => {
      const { id } = await create(server, 'abc')
      await fetch(`${server.base}${id}`)
      await fetch(server.base, { method: 'POST', body: 'refused' })
      const text = await server.metrics()
      expect(text).toContain('rendezvous_http_requests_total{method="POST",route="/",status="200"} 1')
      expect(text).toContain('rendezvous_http_requests_total{method="GET",route="/{id}",status="200"} 1')
      expect(text).toContain('rendezvous_http_requests_total{method="POST",route="/",status="429"} 1')
      expect(text).toMatch(/rendezvous_http_request_duration_seconds_bucket\{method="GET",route="\/\{id\}",le="\+Inf"\} 1/)
      expect(text).toContain('rendezvous_live 1\n')
      expect(text).toContain('rendezvous_live_payload_bytes 3\n')
      expect(text).toContain('rendezvous_long_polls_held 0\n')
      expect(text).toContain('rendezvous_refusals_total{reason="capacity"} 1')
      expect(text).toMatch(/process_resident_memory_bytes \d+/)
      expect(text).not.toContain(id)
    })
  })
})

describe('response hardening', () => {
  it('should send nosniff and no-referrer everywhere, a sandboxing CSP on payloads, and no server banner', async () => {
    await withServer({}, async (server) => {
      const { id, response: created } = await create(server, '<script>alert(1)</script>', 'text/html')
      const payload = await fetch(`${server.base}${id}`)
      expect(payload.headers.get('content-security-policy')).toContain("default-src 'none'")
      expect(payload.headers.get('content-security-policy')).toContain('sandbox')
      for (const response of [created, payload, await fetch(`${server.base}nope`), await fetch(`${server.origin}/x/y`)]) {
        expect(response.headers.get('x-content-type-options')).toBe('nosniff')
        expect(response.headers.get('referrer-policy')).toBe('no-referrer')
        expect(response.headers.get('server')).toBeNull()
        expect(response.headers.get('x-powered-by')).toBeNull()
      }
    })
  })
})
