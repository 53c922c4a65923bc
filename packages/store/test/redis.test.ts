import { afterAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { RedisStore } from '../src/redis.ts'
import { describeStoreConformance } from '../src/testing/conformance.ts'
import { startTestRedis } from '../src/testing/redis-server.ts'
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

async function waitUntil(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
