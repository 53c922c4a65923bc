/**
 * Several server processes on one Redis behave as one server (docs/protocol.md#operations): every dialect's
 * exchange with device A on one instance and device B on the other, long-polls woken across
 * instances, compare-and-swap and capacity global, an instance killed mid-exchange, expiry with no
 * instance running, Redis stopped and restarted under traffic, and `RENDEZVOUS_WORKERS`.
 */

import { startTestRedis } from '@rendezvous/store/testing/redis'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { create, sleep } from './harness.ts'
import { runMsc3886Exchange } from './msc3886-exchange.ts'
import { runMsc4108Exchange } from './msc4108-exchange.ts'
import { type ServerProcess, freeMetricsListen, listeningUrl, logLines, spawnMain } from './process.ts'

const redis = await startTestRedis('scale-out tests (several instances on one Redis)', { persistent: true })
afterAll(() => redis?.close())

interface Instance {
  readonly base: string
  readonly origin: string
  /** Its metrics listener's `/metrics`. */
  readonly metricsUrl: string
  readonly child: ServerProcess
}

const running: Instance[] = []
afterAll(() => {
  for (const instance of running) instance.child.kill('SIGKILL')
})

/** Starts a server process on `redis` with key prefix `prefix`. */
async function instance(prefix: string, env: Record<string, string> = {}, args: string[] = []): Promise<Instance> {
  const { url: metricsUrl, ...metricsListen } = await freeMetricsListen()
  const child = spawnMain(
    [
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--shutdown-drain',
      '0',
      '--rate-limit',
      'off',
      '--create-rate-limit',
      'off',
      '--max-in-flight-per-client',
      'off',
      ...args,
    ],
    {
      RENDEZVOUS_STORE: redis!.url,
      RENDEZVOUS_REDIS_PREFIX: prefix,
      ...metricsListen,
      ...env,
    },
  )
  const base = await listeningUrl(child.stderr)
  const started = { base, origin: base.replace(/\/$/, ''), metricsUrl, child }
  running.push(started)
  // Ready means both Redis connections are up (the subscriber included).
  for (let i = 0; i < 200 && (await fetch(`${started.origin}/ready`)).status !== 200; i++) await sleep(10)
  return started
}

/** The same URL on another instance: what a load balancer does to device B. */
const on = (target: Instance) => (url: string) => `${target.origin}${new URL(url).pathname}`

function fakeClient(origin: string, feature: string) {
  return {
    baseUrl: origin,
    doesServerSupportUnstableFeature: async (name: string) => name === feature,
    http: { getUrl: (path: string, _query: unknown, prefix: string) => new URL(`${origin}${prefix}${path}`) },
  }
}

describe.skipIf(!redis)('two instances on one Redis', () => {
  let one: Instance
  let two: Instance

  beforeAll(async () => {
    const prefix = redis!.uniquePrefix()
    ;[one, two] = await Promise.all([instance(prefix), instance(prefix)])
  }, 30_000)

  it('should complete the seed exchange with A on one instance and B on the other, long-poll woken across them', async () => {
    const { id, etag: tagA } = await create(one, 'A1', 'text/plain')
    const readOnTwo = await fetch(`${two.base}${id}`)
    expect(await readOnTwo.text()).toBe('A1')
    expect(readOnTwo.headers.get('etag')).toBe(tagA)

    // A waits on instance one; B writes on instance two.
    const started = performance.now()
    const waiting = fetch(`${one.base}${id}`, { headers: { 'if-none-match': tagA, prefer: 'wait=20' } })
    await sleep(100)
    const written = await fetch(`${two.base}${id}`, { method: 'PUT', body: 'B1', headers: { 'if-match': tagA, 'content-type': 'text/plain' } })
    expect(written.status).toBe(202)
    const woken = await waiting
    expect(woken.status).toBe(200)
    expect(await woken.text()).toBe('B1')
    expect(woken.headers.get('etag')).toBe(written.headers.get('etag'))
    expect(performance.now() - started).toBeLessThan(2000)

    expect((await fetch(`${one.base}${id}`, { method: 'DELETE' })).status).toBe(204)
    expect((await fetch(`${two.base}${id}`)).status).toBe(404)
  })

  it("should complete matrix-js-sdk's MSC3886 exchange across instances", async () => {
    const uri = await runMsc3886Exchange({ client: fakeClient(one.origin, 'org.matrix.msc3886'), fallbackRzServer: one.base, joinUrl: on(two) })
    expect(uri.startsWith(one.base)).toBe(true)
  }, 30_000)

  it("should complete matrix-js-sdk's MSC4108 exchange across instances", async () => {
    const url = await runMsc4108Exchange({ client: fakeClient(one.origin, 'org.matrix.msc4108'), fallbackRzServer: one.base, joinUrl: on(two) })
    expect(url.startsWith(one.base)).toBe(true)
  }, 30_000)

  it('should complete an MSC4388 exchange across instances, both write forms and the exact retry included', async () => {
    const path = '/_matrix/client/v1/rendezvous'
    const json = (origin: string, suffix: string, method: string, body?: unknown) =>
      fetch(`${origin}${path}${suffix}`, {
        method,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }))
    const created = await json(one.origin, '', 'POST', { data: 'A1' })
    const id = created.body['id']!
    const read = await json(two.origin, `/${id}`, 'GET')
    expect(read.body['data']).toBe('A1')
    const b1 = await json(two.origin, `/${id}/txn-1`, 'PUT', { sequence_token: read.body['sequence_token'], data: 'B1' })
    expect(b1.status).toBe(200)
    // The same transaction replayed on the other instance gets the same answer and writes nothing.
    expect(await json(one.origin, `/${id}/txn-1`, 'PUT', { sequence_token: read.body['sequence_token'], data: 'B1' })).toEqual(b1)
    const a2 = await json(one.origin, `/${id}`, 'PUT', { sequence_token: b1.body['sequence_token'], data: 'A2' })
    expect(a2.status).toBe(200)
    // A's retry through the other instance is recognised as the write it repeats.
    expect(await json(two.origin, `/${id}`, 'PUT', { sequence_token: b1.body['sequence_token'], data: 'A2' })).toEqual(a2)
    expect((await json(two.origin, `/${id}`, 'PUT', { sequence_token: read.body['sequence_token'], data: 'late' })).status).toBe(409)
    expect((await json(two.origin, `/${id}`, 'DELETE')).status).toBe(200)
    expect((await json(one.origin, `/${id}`, 'GET')).status).toBe(404)
  })

  it('should let exactly one of 50 concurrent writers split over both instances win', async () => {
    const { id, etag } = await create(one, 'start')
    const statuses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        fetch(`${(i % 2 === 0 ? one : two).base}${id}`, { method: 'PUT', body: `writer ${i}`, headers: { 'if-match': etag } }).then(async (r) => {
          await r.arrayBuffer()
          return r.status
        }),
      ),
    )
    expect(statuses.filter((s) => s === 202)).toHaveLength(1)
    expect(statuses.filter((s) => s === 412)).toHaveLength(49)
  })
})

describe.skipIf(!redis)('instances coming and going', () => {
  it('should complete the exchange on the surviving instance after the creating one is killed with SIGKILL', async () => {
    const prefix = redis!.uniquePrefix()
    const [creator, survivor] = await Promise.all([instance(prefix), instance(prefix)])
    const { id, etag: tag } = await create(creator, 'A1')
    const reply = await fetch(`${creator.base}${id}`, { method: 'PUT', body: 'B1', headers: { 'if-match': tag } })
    creator.child.kill('SIGKILL')
    await creator.child.exited
    const read = await fetch(`${survivor.base}${id}`)
    expect(await read.text()).toBe('B1')
    expect(read.headers.get('etag')).toBe(reply.headers.get('etag'))
    expect((await fetch(`${survivor.base}${id}`, { method: 'PUT', body: 'A2', headers: { 'if-match': read.headers.get('etag')! } })).status).toBe(202)
    expect((await fetch(`${survivor.base}${id}`, { method: 'DELETE' })).status).toBe(204)
  }, 30_000)

  it('should hold the capacity limits across instances', async () => {
    const prefix = redis!.uniquePrefix()
    const env = { RENDEZVOUS_MAX_SESSIONS: '3' }
    const [a, b] = await Promise.all([instance(prefix, env), instance(prefix, env)])
    const statuses: number[] = []
    for (const target of [a, a, b, b, a]) {
      const response = await fetch(target.base, { method: 'POST', body: 'x' })
      await response.arrayBuffer()
      statuses.push(response.status)
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    for (const target of [a, b]) target.child.kill('SIGKILL')
  }, 30_000)

  it('should expire rendezvous with no instance running, Redis reclaiming the payload itself', async () => {
    const prefix = redis!.uniquePrefix()
    const first = await instance(prefix, { RENDEZVOUS_TTL_SECONDS: '1' })
    const { id } = await create(first, 'short-lived')
    first.child.kill('SIGKILL')
    await first.child.exited
    await sleep(1300)
    const raw = new Redis(redis!.url)
    try {
      expect(await raw.exists(`${prefix}r:${id}`)).toBe(0)
    } finally {
      raw.disconnect()
    }
    const later = await instance(prefix, { RENDEZVOUS_TTL_SECONDS: '1' })
    expect((await fetch(`${later.base}${id}`)).status).toBe(404)
    const metrics = await (await fetch(later.metricsUrl)).text()
    expect(metrics).toMatch(/^rendezvous_live 0$/m)
    later.child.kill('SIGKILL')
  }, 30_000)
})

describe.skipIf(!redis || redis.external)('Redis going away and coming back under traffic', () => {
  it('should answer 503 while Redis is down, answer held long-polls, and recover by itself with nothing lost', async () => {
    const prefix = redis!.uniquePrefix()
    const server = await instance(prefix)
    const { id, etag } = await create(server, 'accepted before the outage')
    const held = fetch(`${server.base}${id}`, { headers: { 'if-none-match': etag, prefer: 'wait=25' } })
    await sleep(100)

    // Traffic throughout: a read every 20 ms.
    const statuses: { at: number; status: number }[] = []
    let traffic = true
    const reader = (async () => {
      while (traffic) {
        const response = await fetch(`${server.base}${id}`, { signal: AbortSignal.timeout(5000) })
        if (response.status === 503) {
          expect(response.headers.get('content-type')).toBe('application/json')
          expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
          expect(((await response.json()) as { errcode: string }).errcode).toBe('M_UNKNOWN')
        } else {
          await response.arrayBuffer()
        }
        statuses.push({ at: performance.now(), status: response.status })
        await sleep(20)
      }
    })()

    await sleep(200)
    const down = performance.now()
    await redis!.stop()
    const heldAnswer = await held
    expect(heldAnswer.status).toBe(503)
    expect(performance.now() - down).toBeLessThan(3000)
    await sleep(500)
    expect((await fetch(`${server.origin}/ready`)).status).toBe(503)
    expect((await fetch(`${server.origin}/health`)).status).toBe(200)
    expect((await fetch(`${server.base}${id}`, { method: 'PUT', body: 'during' })).status).toBe(503)
    await redis!.start()
    const up = performance.now()
    for (let i = 0; i < 300 && (await fetch(`${server.origin}/ready`)).status !== 200; i++) await sleep(20)
    await sleep(200)
    traffic = false
    await reader

    expect(statuses.filter((s) => s.at < down).every((s) => s.status === 200)).toBe(true)
    expect(statuses.some((s) => s.status === 503)).toBe(true)
    expect(statuses.every((s) => s.status === 200 || s.status === 503)).toBe(true)
    expect(statuses.filter((s) => s.at > up + 6000)).toHaveLength(0)
    expect(statuses.at(-1)?.status).toBe(200)
    const after = await fetch(`${server.base}${id}`)
    expect(await after.text()).toBe('accepted before the outage')
    expect(after.headers.get('etag')).toBe(etag)
    const metrics = await (await fetch(server.metricsUrl)).text()
    expect(Number(/^rendezvous_store_errors_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0)
    server.child.kill('SIGKILL')
  }, 60_000)
})

describe.skipIf(!redis || redis.external)('Redis that hangs', () => {
  it('should answer 503 within seconds, not hang, while Redis accepts nothing, and recover when it thaws', async () => {
    const prefix = redis!.uniquePrefix()
    const server = await instance(prefix)
    const { id } = await create(server, 'before the freeze')
    redis!.pause()
    try {
      const started = performance.now()
      const frozen = await fetch(`${server.base}${id}`, { signal: AbortSignal.timeout(10_000) })
      expect(frozen.status).toBe(503)
      expect(performance.now() - started).toBeLessThan(5000)
    } finally {
      redis!.resume()
    }
    for (let i = 0; i < 300 && (await fetch(`${server.origin}/ready`)).status !== 200; i++) await sleep(20)
    expect(await (await fetch(`${server.base}${id}`)).text()).toBe('before the freeze')
    server.child.kill('SIGKILL')
  }, 30_000)
})

describe.skipIf(!redis)('RENDEZVOUS_WORKERS', () => {
  it('should run several workers on one port, restart one that dies, and stop them all on SIGTERM', async () => {
    const prefix = redis!.uniquePrefix()
    const supervisor = spawnMain(['--host', '127.0.0.1', '--port', '0', '--workers', '2', '--shutdown-drain', '0'], {
      RENDEZVOUS_STORE: redis!.url,
      RENDEZVOUS_REDIS_PREFIX: prefix,
    })
    try {
      const lines = logLines(supervisor.stderr)
      const listening = await lines.until((all) => all.filter((l) => l['msg'] === 'listening').length >= 2)
      const workers = listening.filter((l) => l['msg'] === 'listening')
      expect(new Set(workers.map((l) => l['url'])).size).toBe(1)
      expect(new Set(workers.map((l) => l['worker']))).toEqual(new Set([0, 1]))
      const base = workers[0]!['url'] as string
      for (let i = 0; i < 20; i++) {
        const created = await fetch(base, { method: 'POST', body: `via worker ${i}` })
        expect(created.status).toBe(200)
        await created.arrayBuffer()
      }
      process.kill(workers[0]!['pid'] as number, 'SIGKILL')
      await lines.until((all) => all.filter((l) => l['msg'] === 'listening').length >= 3)
      expect((await fetch(base, { method: 'POST', body: 'after the restart' })).status).toBe(200)
      supervisor.kill('SIGTERM')
      expect(await supervisor.exited).toBe(0)
    } finally {
      supervisor.kill('SIGKILL')
    }
  }, 30_000)

  it('should refuse several workers with the memory store, in one line', async () => {
    const child = spawnMain(['--workers', '2'])
    const err = await new Response(child.stderr).text()
    expect(await child.exited).toBe(2)
    expect(err.trim().split('\n')).toHaveLength(1)
    expect(err).toContain('--workers')
  })
})
