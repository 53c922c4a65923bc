import { afterAll, describe, expect, it } from 'vitest'
import { type Socket, connect, createServer } from 'node:net'
import { Redis } from 'ioredis'
import { strongTagCondition } from '@rendezvous/protocol'
import { RedisStore } from '../src/redis.ts'
import { waitForChange } from '../src/wait-for-change.ts'
import { describeStoreConformance } from '../src/testing/conformance.ts'
import { startTestRedis } from '../src/testing/redis-server.ts'
import { startTestSentinels } from '../src/testing/redis-sentinel.ts'
import { startTestCluster } from '../src/testing/redis-cluster.ts'
import type { StoreLimits } from '../src/types.ts'

const redis = await startTestRedis('RedisStore conformance and Redis-only tests')
afterAll(() => redis?.close())

function open(limits: StoreLimits, prefix = redis!.uniquePrefix()): RedisStore {
  return new RedisStore({ url: redis!.url, prefix, ...limits })
}

if (redis) {
  describeStoreConformance({ name: 'redis', create: (limits) => open(limits) })
}

const ROOMY: StoreLimits = { ttlMs: 60_000, maxSessions: 100_000, maxTotalBytes: 64 << 20 }
const bytes = (s: string) => new Uint8Array(new TextEncoder().encode(s))

describe.skipIf(!redis)('RedisStore across instances', () => {
  it('should let two stores on one Redis see the same rendezvous and share capacity', async () => {
    const prefix = redis!.uniquePrefix()
    const a = open({ ...ROOMY, maxSessions: 2 }, prefix)
    const b = open({ ...ROOMY, maxSessions: 2 }, prefix)
    try {
      const created = await a.create({ payload: bytes('from a'), contentType: 'text/plain' })
      if (!created.ok) throw new Error('refused')
      const read = await b.get(created.rendezvous.id)
      expect(read?.etag).toBe(created.rendezvous.etag)
      expect(new TextDecoder().decode(read!.payload)).toBe('from a')
      expect((await b.create({ payload: bytes('x'), contentType: 'text/plain' })).ok).toBe(true)
      expect((await a.create({ payload: bytes('y'), contentType: 'text/plain' })).ok).toBe(false)
      expect((await b.stats()).sessions).toBe(2)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('should wake a subscriber on one instance when another writes or deletes', async () => {
    const prefix = redis!.uniquePrefix()
    const a = open(ROOMY, prefix)
    const b = open(ROOMY, prefix)
    try {
      const created = await a.create({ payload: bytes('x'), contentType: 'text/plain' })
      if (!created.ok) throw new Error('refused')
      const seen: string[] = []
      const unsubscribe = b.subscribe(created.rendezvous.id, (change) => seen.push(change))
      await waitUntil(() => b.available())
      await a.update(created.rendezvous.id, { payload: bytes('y'), contentType: 'text/plain', ifMatch: { kind: 'any' } })
      await a.delete(created.rendezvous.id)
      await waitUntil(() => seen.length === 2)
      expect(seen).toEqual(['updated', 'deleted'])
      unsubscribe()
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('should keep the byte count exact through a thousand expiries nobody watched', async () => {
    const prefix = redis!.uniquePrefix()
    const store = open({ ...ROOMY, ttlMs: 200 }, prefix)
    try {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => store.create({ payload: bytes(`payload ${i}`), contentType: 'text/plain' })))
      const live = await store.create({ payload: bytes('survivor'), contentType: 'text/plain' })
      expect(live.ok).toBe(true)
      await new Promise((resolve) => setTimeout(resolve, 250))
      const fresh = await store.create({ payload: bytes('12345'), contentType: 'text/plain' })
      expect(fresh.ok).toBe(true)
      expect(await store.stats()).toMatchObject({ sessions: 1, payloadBytes: 5 })
      const raw = new Redis(redis!.url)
      try {
        expect(await raw.zcard(`${prefix}live`)).toBe(1)
        expect(await raw.hlen(`${prefix}sizes`)).toBe(1)
        expect(await raw.get(`${prefix}bytes`)).toBe('5')
      } finally {
        raw.disconnect()
      }
    } finally {
      await store.close()
    }
  })
})

describe.skipIf(!redis)('RedisStore with clocks apart', () => {
  /** Reads of rendezvous Redis has answered so far: what a held long-poll costs. */
  async function readsSoFar(raw: Redis): Promise<number> {
    const stats = await raw.info('commandstats')
    let total = 0
    for (const command of ['hmget', 'hget', 'exists', 'pttl']) {
      const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)
      if (match) total += Number(match[1])
    }
    return total
  }

  // Redis keeping the record 2 s past the expiry it reported is what a server clock 2 s ahead of
  // Redis's looks like from the server, and the other way round.
  it.each([
    ['ahead of', 2000],
    ['behind', -2000],
  ])(
    "should hold a long-poll for a few reads, and answer expiry within 100 ms of Redis's, with this clock 2 s %s Redis's",
    async (_how, skewMs) => {
      const prefix = redis!.uniquePrefix()
      const store = open({ ...ROOMY, ttlMs: 3000 }, prefix)
      const raw = new Redis(redis!.url)
      try {
        const created = await store.create({ payload: bytes('x'), contentType: 'text/plain' })
        if (!created.ok) throw new Error('refused')
        const { id, etag, expiresAt } = created.rendezvous
        const redisExpiry = expiresAt + skewMs
        await raw.pexpireat(`${prefix}r:${id}`, redisExpiry - 1)
        const before = await readsSoFar(raw)
        const outcome = await waitForChange(store, id, strongTagCondition(etag), { timeoutMs: 8000 })
        const answeredAt = Date.now()
        const reads = (await readsSoFar(raw)) - before - 1
        expect(outcome.kind).toBe('gone')
        expect(answeredAt).toBeGreaterThanOrEqual(redisExpiry - 1)
        expect(answeredAt - redisExpiry).toBeLessThan(100)
        expect(reads).toBeLessThanOrEqual(5)
      } finally {
        raw.disconnect()
        await store.close()
      }
    },
    15_000,
  )
})

/**
 * A TCP relay in front of the test Redis that can drop the subscriber's connection and hold back its
 * SUBSCRIBE: how a reconnect looks from the store when Redis confirms it late.
 */
async function relay(target: URL) {
  const connections = new Set<Socket>()
  const subscribers = new Set<Socket>()
  let holdSubscribeMs = 0
  let holding = false
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname)
    connections.add(client).add(upstream)
    client.on('data', (chunk: Buffer) => {
      const subscribes = chunk.toString('latin1').toLowerCase().includes('subscribe')
      if (subscribes) subscribers.add(client)
      if (holdSubscribeMs > 0 && subscribes) {
        holding = true
        client.pause()
        setTimeout(() => {
          holding = false
          upstream.write(chunk)
          client.resume()
        }, holdSubscribeMs)
      } else {
        upstream.write(chunk)
      }
    })
    upstream.on('data', (chunk: Buffer) => client.write(chunk))
    const close = () => {
      client.destroy()
      upstream.destroy()
      connections.delete(client)
      connections.delete(upstream)
      subscribers.delete(client)
    }
    client.on('close', close).on('error', close)
    upstream.on('close', close).on('error', close)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    url: `redis://127.0.0.1:${port}`,
    /** From now on, a SUBSCRIBE reaches Redis only this long after it was sent. */
    holdSubscribe(ms: number) {
      holdSubscribeMs = ms
    },
    get holding() {
      return holding
    },
    /** Breaks the connections that subscribed, as a network blip or a proxy restart would. */
    dropSubscribers() {
      for (const socket of subscribers) socket.destroy()
    },
    close() {
      for (const socket of connections) socket.destroy()
      server.close()
    },
  }
}

describe.skipIf(!redis)('RedisStore subscriber reconnecting', () => {
  it('should wake a waiter, within a second, for a write made while its SUBSCRIBE was not yet confirmed', async () => {
    const prefix = redis!.uniquePrefix()
    const proxied = await relay(new URL(redis!.url))
    const waiterSide = new RedisStore({ url: proxied.url, prefix, ...ROOMY })
    const writerSide = open(ROOMY, prefix)
    try {
      const created = await writerSide.create({ payload: bytes('first'), contentType: 'text/plain' })
      if (!created.ok) throw new Error('refused')
      const { id, etag } = created.rendezvous
      await waitUntil(() => waiterSide.available())
      const waiting = waitForChange(waiterSide, id, strongTagCondition(etag), { timeoutMs: 10_000 })
      // The waiter's first read is done and it sleeps on its subscription.
      await new Promise((resolve) => setTimeout(resolve, 100))
      proxied.holdSubscribe(700)
      proxied.dropSubscribers()
      // The store is connected again and has sent SUBSCRIBE, which Redis has not seen yet.
      await waitUntil(() => proxied.holding, 5000)
      await new Promise((resolve) => setTimeout(resolve, 150))
      const written = await writerSide.update(id, { payload: bytes('second'), contentType: 'text/plain', ifMatch: { kind: 'any' } })
      const writtenAt = Date.now()
      expect(written.ok).toBe(true)
      const outcome = await waiting
      expect(outcome.kind).toBe('changed')
      expect(Date.now() - writtenAt).toBeLessThan(1000)
    } finally {
      await Promise.all([waiterSide.close(), writerSide.close()])
      proxied.close()
    }
  }, 20_000)
})

async function waitUntil(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe.skipIf(!redis)('RedisStore under an eviction policy', () => {
  it('should read noeviction from CONFIG GET and say nothing', async () => {
    const events: string[] = []
    const store = new RedisStore({
      url: redis!.url,
      prefix: redis!.uniquePrefix(),
      ...ROOMY,
      onConnectionEvent: (event, detail) => events.push(`${event}: ${detail}`),
    })
    try {
      await waitUntil(() => store.evictionPolicy() !== null)
      expect(store.evictionPolicy()).toBe('noeviction')
      expect(events.filter((e) => e.startsWith('warning'))).toEqual([])
    } finally {
      await store.close()
    }
  })

  it('should warn about allkeys-lru, read through INFO when CONFIG is refused, and rebuild the books after an eviction', async () => {
    // A managed Redis: CONFIG renamed away, keys evicted under memory pressure.
    const managed = await startTestRedis('eviction policy', { args: ['--maxmemory-policy', 'allkeys-lru', '--rename-command', 'CONFIG', ''] })
    const prefix = 'rz-evict:'
    const warnings: string[] = []
    const store = new RedisStore({
      url: managed!.url,
      prefix,
      ...ROOMY,
      reconcileIntervalMs: 200,
      onConnectionEvent: (event, detail) => event === 'warning' && warnings.push(detail),
    })
    const inspector = new Redis(managed!.url)
    try {
      await waitUntil(() => store.evictionPolicy() !== null)
      expect(store.evictionPolicy()).toBe('allkeys-lru')
      expect(warnings[0]).toContain('maxmemory-policy is allkeys-lru')
      expect(warnings[0]).toContain('noeviction')
      const ids: string[] = []
      for (const text of ['first', 'second', 'third']) {
        const created = await store.create({ payload: bytes(text), contentType: 'text/plain' })
        if (!created.ok) throw new Error('refused')
        ids.push(created.rendezvous.id)
      }
      expect(await store.stats()).toMatchObject({ sessions: 3, payloadBytes: 16 })
      // What an LRU eviction does: a record goes, and so may the byte counter and the sizes.
      await inspector.del(`${prefix}r:${ids[0]}`, `${prefix}bytes`)
      await inspector.hdel(`${prefix}sizes`, ids[1]!)
      expect(await store.stats()).toMatchObject({ sessions: 3, payloadBytes: 0 })
      await waitUntil(() => warnings.some((w) => w.includes('rebuilt the books')), 5000)
      expect(await store.stats()).toMatchObject({ sessions: 2, payloadBytes: 11 })
      expect(await inspector.hgetall(`${prefix}sizes`)).toEqual({ [ids[1]!]: '6', [ids[2]!]: '5' })
    } finally {
      inspector.disconnect()
      await store.close()
      await managed?.close()
    }
  }, 20_000)
})

const sentinels = await startTestSentinels('RedisStore conformance through Sentinel')
afterAll(() => sentinels?.close())
if (sentinels) {
  describeStoreConformance({
    name: 'redis through sentinel',
    create: (limits) => new RedisStore({ url: sentinels.url, prefix: redis!.uniquePrefix(), ...limits }),
  })
}

const cluster = await startTestCluster('RedisStore conformance on a Redis Cluster')
afterAll(() => cluster?.close())
let clusterStores = 0
if (cluster) {
  // Limits too small to share among groups (a few bytes, three sessions) are tried in one group:
  // the layout with groups is tried at sensible limits below.
  const groupsFor = (limits: StoreLimits) => (limits.maxSessions >= 1024 && limits.maxTotalBytes >= 1 << 20 ? 16 : 1)
  describeStoreConformance({
    name: 'redis cluster',
    create: (limits) => new RedisStore({ url: cluster.url, prefix: `rz-cluster-${clusterStores++}:`, clusterGroups: groupsFor(limits), ...limits }),
  })
  describeStoreConformance({
    name: 'redis cluster, one slot',
    create: (limits) => new RedisStore({ url: cluster.url, prefix: `{rz-one-${clusterStores++}}:`, ...limits }),
  })
}

describe.skipIf(!cluster)('RedisStore on a cluster, capacity shared among 16 groups', () => {
  it('should refuse the session after the last one allowed, whatever group it lands in, and never evict', async () => {
    const store = new RedisStore({ url: cluster!.url, prefix: `rz-cluster-${clusterStores++}:`, ttlMs: 60_000, maxSessions: 64, maxTotalBytes: 1 << 20 })
    try {
      const made = await Promise.all(Array.from({ length: 64 }, () => store.create({ payload: bytes('x'), contentType: 'text/plain' })))
      expect(made.every((m) => m.ok)).toBe(true)
      const refused = await store.create({ payload: bytes('one too many'), contentType: 'text/plain' })
      expect(refused).toMatchObject({ ok: false, reason: 'full' })
      expect(await store.stats()).toMatchObject({ sessions: 64, payloadBytes: 64 })
      for (const m of made) if (m.ok) expect(await store.get(m.rendezvous.id)).not.toBeNull()
    } finally {
      await store.close()
    }
  }, 30_000)

  it('should refuse bytes only when no group has room, within one payload per group of the total', async () => {
    const total = 16 * 1000
    const store = new RedisStore({ url: cluster!.url, prefix: `rz-cluster-${clusterStores++}:`, ttlMs: 60_000, maxSessions: 100_000, maxTotalBytes: total })
    try {
      let held = 0
      for (;;) {
        const made = await store.create({ payload: new Uint8Array(300), contentType: 'application/octet-stream' })
        if (!made.ok) break
        held += 300
      }
      expect(held).toBeLessThanOrEqual(total)
      expect(held).toBeGreaterThan(total - 16 * 300)
      expect((await store.stats()).payloadBytes).toBe(held)
    } finally {
      await store.close()
    }
  }, 30_000)
})
