import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../src/memory.ts'
import { describeStoreConformance } from '../src/testing/conformance.ts'

describeStoreConformance({
  name: 'memory',
  create: (limits) => new MemoryStore({ ...limits, sweepIntervalMs: 50 }),
})

describe('MemoryStore', () => {
  function storeWithClock(ttlMs: number) {
    let now = 1_000_000
    const store = new MemoryStore({ ttlMs, maxSessions: 1000, maxTotalBytes: 1 << 20, now: () => now, sweepIntervalMs: 3_600_000 })
    return { store, advance: (ms: number) => (now += ms) }
  }
  const payload = (s: string) => ({ payload: new Uint8Array(new TextEncoder().encode(s)), contentType: 'text/plain' })

  it('should answer an expired record as absent even before the sweep runs', async () => {
    const { store, advance } = storeWithClock(1000)
    const created = await store.create(payload('x'))
    if (!created.ok) throw new Error('refused')
    advance(999)
    expect(await store.get(created.rendezvous.id)).not.toBeNull()
    advance(1)
    expect(await store.get(created.rendezvous.id)).toBeNull()
    await store.close()
  })

  it('should reclaim in creation order and stop at the first live record', async () => {
    const { store, advance } = storeWithClock(1000)
    await store.create(payload('a'))
    advance(500)
    const younger = await store.create(payload('bb'))
    advance(600)
    store.sweepExpired()
    expect(await store.stats()).toMatchObject({ sessions: 1, payloadBytes: 2 })
    if (younger.ok) expect(await store.get(younger.rendezvous.id)).not.toBeNull()
    await store.close()
  })

  it('should free capacity held by expired records when a create needs it', async () => {
    let now = 0
    const store = new MemoryStore({ ttlMs: 1000, maxSessions: 2, maxTotalBytes: 1 << 20, now: () => now, sweepIntervalMs: 3_600_000 })
    await store.create(payload('a'))
    await store.create(payload('b'))
    expect((await store.create(payload('c'))).ok).toBe(false)
    now += 1000
    expect((await store.create(payload('c'))).ok).toBe(true)
    await store.close()
  })

  it('should suggest retrying when the oldest rendezvous expires', async () => {
    const small = new MemoryStore({ ttlMs: 10_000, maxSessions: 1, maxTotalBytes: 100, sweepIntervalMs: 3_600_000 })
    await small.create(payload('a'))
    const refused = await small.create(payload('b'))
    expect(refused.ok).toBe(false)
    if (!refused.ok) {
      expect(refused.retryAfterMs).toBeGreaterThan(9_000)
      expect(refused.retryAfterMs).toBeLessThanOrEqual(10_000)
    }
    await small.close()
  })

  it('should share one string for a repeated content type', async () => {
    const { store } = storeWithClock(1000)
    const a = await store.create({ payload: new Uint8Array(0), contentType: ['text', 'plain'].join('/') })
    const b = await store.create({ payload: new Uint8Array(0), contentType: ['text', 'plain'].join('/') })
    if (!a.ok || !b.ok) throw new Error('refused')
    expect(a.rendezvous.contentType).toBe('text/plain')
    expect(b.rendezvous.contentType).toBe(a.rendezvous.contentType)
    await store.close()
  })
})

describe('MemoryStore bookkeeping', () => {
  // Regression: a deleted id stayed in the expiry queue until it reached the head, so one live
  // rendezvous pinned every id created after it for a whole TTL.
  it('should keep the expiry queue bounded by the live count under create/delete churn', async () => {
    const store = new MemoryStore({ ttlMs: 3_600_000, maxSessions: 10, maxTotalBytes: 1 << 20, sweepIntervalMs: 3_600_000 })
    const write = { payload: new Uint8Array(0), contentType: 'text/plain' }
    const pinned = await store.create(write)
    expect(pinned.ok).toBe(true)
    let longest = 0
    for (let i = 0; i < 100_000; i++) {
      const churn = await store.create(write)
      if (!churn.ok) throw new Error('refused')
      await store.delete(churn.rendezvous.id)
      longest = Math.max(longest, store.expiryQueueLength)
    }
    expect((await store.stats()).sessions).toBe(1)
    expect(longest).toBeLessThanOrEqual(2 * 1 + 1024 + 1)
    if (pinned.ok) expect(await store.get(pinned.rendezvous.id)).not.toBeNull()
    await store.close()
  })

  it('should still expire the survivors of a compaction in creation order', async () => {
    let now = 0
    const store = new MemoryStore({ ttlMs: 1000, maxSessions: 10_000, maxTotalBytes: 1 << 20, now: () => now, sweepIntervalMs: 3_600_000 })
    const write = { payload: new Uint8Array(1), contentType: 'text/plain' }
    const kept: string[] = []
    for (let i = 0; i < 9000; i++) {
      const r = await store.create(write)
      if (!r.ok) throw new Error('refused')
      if (i % 3 === 0) kept.push(r.rendezvous.id)
      else await store.delete(r.rendezvous.id)
      now += 0.1
    }
    expect((await store.stats()).sessions).toBe(kept.length)
    expect(store.expiryQueueLength).toBeLessThan(2 * kept.length + 1024 + 1)
    now += 1000
    store.sweepExpired()
    expect(await store.stats()).toMatchObject({ sessions: 0, payloadBytes: 0 })
    expect(store.expiryQueueLength).toBe(0)
    await store.close()
  })
})
