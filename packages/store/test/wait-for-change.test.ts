import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryStore } from '../src/memory.ts'
import { waitForChange } from '../src/wait-for-change.ts'

describe('waitForChange', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  // Regression: the first read, started before a write that lands in the same tick, finished after
  // the write had settled the wait and armed a deadline timer nobody would clear (it kept a Node
  // process alive for the whole wait).
  it('should leave no timer behind when a write lands before its first read completes', async () => {
    const store = new MemoryStore({ ttlMs: 60_000, maxSessions: 10, maxTotalBytes: 1024, sweepIntervalMs: 3_600_000 })
    const created = await store.create({ payload: new Uint8Array([1]), contentType: 'text/plain' })
    if (!created.ok) throw new Error('refused')
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const known = { kind: 'tags', tags: [{ weak: false, opaque: created.rendezvous.etag }] } as const
    const waiting = waitForChange(store, created.rendezvous.id, known, { timeoutMs: 30_000 })
    await store.update(created.rendezvous.id, { payload: new Uint8Array([2]), contentType: 'text/plain', ifMatch: { kind: 'any' } })
    expect((await waiting).kind).toBe('changed')
    await Promise.resolve()
    expect(vi.getTimerCount()).toBe(0)
    await store.close()
  })
})
