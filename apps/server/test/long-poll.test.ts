import { listeningUrl, spawnMain } from './process.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, create, rawRequest, sleep, startServer } from './harness.ts'

let server: TestServer
beforeAll(async () => {
  server = await startServer({ RENDEZVOUS_MAX_WAIT_SECONDS: '2' })
})
afterAll(() => server.close())

const url = (id: string) => `${server.base}${id}`

function longPoll(id: string, etag: string, wait: number | string, init: RequestInit = {}): Promise<Response> {
  return fetch(url(id), { ...init, headers: { 'if-none-match': etag, prefer: `wait=${wait}` } })
}

/** Resolves once the store has `n` subscribers, i.e. `n` requests are being held. */
async function heldCount(target: TestServer, n: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await target.store.stats()).subscribers !== n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} held, have ${(await target.store.stats()).subscribers}`)
    await sleep(5)
  }
}

describe('long-poll (Prefer: wait)', () => {
  it('should hold an idle wait for the applied time, then answer 304 with the live headers', async () => {
    const { id, etag, response } = await create(server)
    const started = Date.now()
    const poll = await longPoll(id, etag, 1)
    const elapsed = Date.now() - started
    expect(poll.status).toBe(304)
    expect(elapsed).toBeGreaterThanOrEqual(950)
    expect(poll.headers.get('preference-applied')).toBe('wait=1')
    expect(poll.headers.get('etag')).toBe(etag)
    expect(poll.headers.get('expires')).toBe(response.headers.get('expires'))
    expect(poll.headers.get('last-modified')).toBe(response.headers.get('last-modified'))
    expect(poll.headers.get('access-control-allow-origin')).toBe('*')
  })

  it('should clamp the wait to the server maximum and say so', async () => {
    const { id, etag } = await create(server)
    const started = Date.now()
    const poll = await longPoll(id, etag, 3600)
    expect(poll.status).toBe(304)
    expect(poll.headers.get('preference-applied')).toBe('wait=2')
    expect(Date.now() - started).toBeGreaterThanOrEqual(1950)
  })

  it('should wake every waiter on a PUT with 200, the new ETag and the new bytes', async () => {
    const { id, etag } = await create(server, 'before')
    const waiters = Array.from({ length: 20 }, () => longPoll(id, etag, 2))
    await heldCount(server, 20)
    const put = await fetch(url(id), { method: 'PUT', body: 'after', headers: { 'content-type': 'text/plain' } })
    expect(put.status).toBe(202)
    for (const response of await Promise.all(waiters)) {
      expect(response.status).toBe(200)
      expect(response.headers.get('etag')).toBe(put.headers.get('etag'))
      expect(response.headers.get('content-type')).toBe('text/plain')
      expect(response.headers.get('preference-applied')).toBe('wait=2')
      expect(await response.text()).toBe('after')
    }
    await heldCount(server, 0)
  })

  it('should answer 404 to waiters when the rendezvous is deleted', async () => {
    const { id, etag } = await create(server)
    const waiting = longPoll(id, etag, 2)
    await heldCount(server, 1)
    await fetch(url(id), { method: 'DELETE' })
    const response = await waiting
    expect(response.status).toBe(404)
    expect(response.headers.get('preference-applied')).toBe('wait=2')
    expect(await response.json()).toMatchObject({ errcode: 'M_NOT_FOUND' })
  })

  it('should answer at once, without Preference-Applied, when the tag is outdated or absent', async () => {
    const { id, etag } = await create(server, 'v1')
    await fetch(url(id), { method: 'PUT', body: 'v2' })
    const started = Date.now()
    const outdated = await longPoll(id, etag, 2)
    expect(outdated.status).toBe(200)
    expect(await outdated.text()).toBe('v2')
    expect(outdated.headers.get('preference-applied')).toBeNull()
    const plain = await fetch(url(id), { headers: { prefer: 'wait=2' } })
    expect(plain.status).toBe(200)
    expect(plain.headers.get('preference-applied')).toBeNull()
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('should answer at once for wait=0 and ignore a malformed wait', async () => {
    const { id, etag } = await create(server)
    const started = Date.now()
    const zero = await longPoll(id, etag, 0)
    expect(zero.status).toBe(304)
    expect(zero.headers.get('preference-applied')).toBe('wait=0')
    const malformed = await longPoll(id, etag, 'soon')
    expect(malformed.status).toBe(304)
    expect(malformed.headers.get('preference-applied')).toBeNull()
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('should answer 404 for an unknown id at once', async () => {
    const response = await longPoll('AAAAAAAAAAAAAAAAAAAAAA', '"x"', 2)
    expect(response.status).toBe(404)
  })

  it('should release waiters whose clients disconnect', async () => {
    const { id, etag } = await create(server)
    const controllers = Array.from({ length: 10 }, () => new AbortController())
    const polls = controllers.map((c) => longPoll(id, etag, 2, { signal: c.signal }).catch(() => 'aborted'))
    await heldCount(server, 10)
    for (const c of controllers) c.abort()
    expect(await Promise.all(polls)).toEqual(new Array(10).fill('aborted'))
    // Well before the 2 s deadline: released by the disconnect, not by the timer.
    await heldCount(server, 0, 1500)
  })

  it('should release a waiter whose raw connection is dropped', async () => {
    const { id, etag } = await create(server)
    const raw = `GET ${new URL(url(id)).pathname} HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: ${etag}\r\nPrefer: wait=2\r\n\r\n`
    const dropped = rawRequest(server.port, raw, 200)
    await heldCount(server, 1)
    expect((await dropped).status).toBe(0)
    await heldCount(server, 0, 1500)
  })
})

describe('long-poll at scale', () => {
  it('should wake each of 1,000 concurrent waiters on distinct ids with its own write', async () => {
    // Bun's fetch holds at most 256 connections unless told otherwise; the package's test script
    // raises it, since each waiter needs its own connection.
    expect(Number(process.env['BUN_CONFIG_MAX_HTTP_REQUESTS'] ?? 256), 'BUN_CONFIG_MAX_HTTP_REQUESTS').toBeGreaterThanOrEqual(1000)
    const big = await startServer({ RENDEZVOUS_MAX_WAIT_SECONDS: '20' })
    try {
      const sessions = await Promise.all(Array.from({ length: 1000 }, (_, i) => create(big, `initial ${i}`)))
      const polls = sessions.map(({ id, etag }) => fetch(`${big.base}${id}`, { headers: { 'if-none-match': etag, prefer: 'wait=20' } }))
      await heldCount(big, 1000, 15_000)
      const puts = await Promise.all(sessions.map(({ id }, i) => fetch(`${big.base}${id}`, { method: 'PUT', body: `answer ${i}` })))
      expect(puts.every((r) => r.status === 202)).toBe(true)
      const responses = await Promise.all(polls)
      const bodies = await Promise.all(responses.map((r) => r.text()))
      responses.forEach((r, i) => {
        expect(r.status).toBe(200)
        expect(r.headers.get('etag')).toBe(puts[i]!.headers.get('etag'))
      })
      expect(bodies).toEqual(sessions.map((_, i) => `answer ${i}`))
      await heldCount(big, 0)
    } finally {
      await big.close()
    }
  }, 60_000)

  it('should answer at once without Preference-Applied beyond max_waiters', async () => {
    const bounded = await startServer({ RENDEZVOUS_MAX_WAITERS: '2', RENDEZVOUS_MAX_WAIT_SECONDS: '2' })
    try {
      const { id, etag } = await create(bounded)
      const poll = () => fetch(`${bounded.base}${id}`, { headers: { 'if-none-match': etag, prefer: 'wait=2' } })
      const held = [poll(), poll()]
      await heldCount(bounded, 2)
      const started = Date.now()
      const over = await poll()
      expect(over.status).toBe(304)
      expect(over.headers.get('preference-applied')).toBeNull()
      expect(Date.now() - started).toBeLessThan(1000)
      for (const response of await Promise.all(held)) expect(response.headers.get('preference-applied')).toBe('wait=2')
    } finally {
      await bounded.close()
    }
  })
})

describe('long-poll and shutdown', () => {
  it('should answer held requests at once when shutdown begins, and report draining', async () => {
    const draining = await startServer({ RENDEZVOUS_MAX_WAIT_SECONDS: '30' })
    try {
      const { id, etag } = await create(draining)
      const waiting = fetch(`${draining.base}${id}`, { headers: { 'if-none-match': etag, prefer: 'wait=30' } })
      await heldCount(draining, 1)
      const started = Date.now()
      draining.beginShutdown()
      const response = await waiting
      expect(response.status).toBe(304)
      expect(response.headers.get('etag')).toBe(etag)
      expect(response.headers.get('preference-applied')).toBe('wait=30')
      expect(Date.now() - started).toBeLessThan(1000)
      expect((await fetch(`${draining.origin}/ready`)).status).toBe(503)
    } finally {
      await draining.close()
    }
  })

  it('should answer held requests and exit 0 when the real process gets SIGTERM', async () => {
    const child = spawnMain(['--host', '127.0.0.1', '--port', '0', '--max-wait', '30', '--shutdown-drain', '0'])
    try {
      const base = await listeningUrl(child.stderr)
      const { id, etag } = await create({ base }, 'x')
      const waiting = fetch(`${base}${id}`, { headers: { 'if-none-match': etag, prefer: 'wait=30' } })
      await sleep(300)
      const started = Date.now()
      child.kill('SIGTERM')
      const response = await waiting
      expect(response.status).toBe(304)
      expect(response.headers.get('preference-applied')).toBe('wait=30')
      expect(await child.exited).toBe(0)
      expect(Date.now() - started).toBeLessThan(5000)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
