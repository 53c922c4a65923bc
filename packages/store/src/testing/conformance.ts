/**
 * @module The conformance suite every `RendezvousStore` must pass. A store's own test file calls
 * `describeStoreConformance` with a factory, then adds tests for what only that store does.
 */

import { MAX_ETAG_LENGTH, parseEntityTagCondition, type EntityTagCondition } from '@rendezvous/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_TRANSACTIONS_PER_RENDEZVOUS, transactionCost } from '../limits.ts'
import { sameBytes } from '../repeated-write.ts'
import type { Change, Rendezvous, RendezvousStore, StoreLimits } from '../types.ts'
import { AbortFanout } from '../abort-fanout.ts'
import { waitForChange } from '../wait-for-change.ts'

export interface ConformanceOptions {
  readonly name: string
  /**
   * Builds a fresh, empty store with these limits. Expired rendezvous must be reclaimed, and their
   * subscribers told, within `EXPIRY_GRACE_MS` of expiry.
   */
  readonly create: (limits: StoreLimits) => RendezvousStore | Promise<RendezvousStore>
}

/** How late, after its expiry, a store may tell subscribers that a rendezvous expired. */
export const EXPIRY_GRACE_MS = 500

const ROOMY: StoreLimits = { ttlMs: 60_000, maxSessions: 100_000, maxTotalBytes: 64 * 1024 * 1024 }
const ANY: EntityTagCondition = { kind: 'any' }

export function describeStoreConformance({ name, create }: ConformanceOptions): void {
  describe(`RendezvousStore conformance: ${name}`, () => {
    const opened: RendezvousStore[] = []
    async function open(limits: Partial<StoreLimits> = {}): Promise<RendezvousStore> {
      const store = await create({ ...ROOMY, ...limits })
      opened.push(store)
      return store
    }
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()))
    })

    describe('create', () => {
      it('should issue 22-character base64url ids that never repeat', async () => {
        const store = await open()
        const ids = new Set<string>()
        // In batches, so a store over the network is not timed on 1000 round trips one after another.
        for (let batch = 0; batch < 10; batch++) {
          for (const rz of await Promise.all(Array.from({ length: 100 }, () => created(store, bytes(''))))) ids.add(rz.id)
        }
        expect(ids.size).toBe(1000)
        for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
      })

      it('should store the payload and content type exactly as given', async () => {
        const store = await open()
        const all = Uint8Array.from({ length: 256 }, (_, i) => i)
        const rz = await created(store, all, 'text/plain')
        const read = await store.get(rz.id)
        expect(read?.payload).toEqual(all)
        expect(read?.contentType).toBe('text/plain')
      })

      it('should keep large payloads and unusual content types byte for byte', async () => {
        const store = await open()
        const large = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 7919) & 0xff)
        const type = 'application/x.odd; q="a,b"; ü=1 \t end'
        const rz = await created(store, large, type)
        const read = await store.get(rz.id)
        expect(read!.payload.byteLength).toBe(large.byteLength)
        expect(sameBytes(read!.payload, large)).toBe(true)
        expect(read!.contentType).toBe(type)
        const updated = await store.update(rz.id, { payload: large.subarray(1, 10241).slice(), contentType: '', ifMatch: ANY })
        if (!updated.ok) throw new Error('refused')
        const again = await store.get(rz.id)
        expect(sameBytes(again!.payload, large.subarray(1, 10241))).toBe(true)
        expect(again!.contentType).toBe('')
      })

      it('should accept an empty payload', async () => {
        const store = await open()
        const rz = await created(store, bytes(''))
        expect((await store.get(rz.id))?.payload.byteLength).toBe(0)
      })

      it('should fix expiry at creation plus the TTL and stamp last-modified', async () => {
        const store = await open({ ttlMs: 5000 })
        const before = Date.now()
        const rz = await created(store, bytes('x'))
        const after = Date.now()
        expect(rz.lastModified).toBeGreaterThanOrEqual(before)
        expect(rz.lastModified).toBeLessThanOrEqual(after)
        expect(rz.expiresAt).toBe(rz.lastModified + 5000)
      })

      it('should give identical payloads on two rendezvous different strong ETags', async () => {
        const store = await open()
        const a = await created(store, bytes('same'))
        const b = await created(store, bytes('same'))
        expect(a.etag).not.toBe(b.etag)
        for (const etag of [a.etag, b.etag]) {
          expect(etag).toMatch(/^"[\x21\x23-\x7e]*"$/)
          expect(etag.length).toBeLessThanOrEqual(MAX_ETAG_LENGTH)
        }
      })
    })

    describe('get', () => {
      it('should answer null for an id that was never issued', async () => {
        const store = await open()
        expect(await store.get('AAAAAAAAAAAAAAAAAAAAAA')).toBeNull()
      })
    })

    describe('update', () => {
      it('should replace payload and content type, issue a new ETag and keep the expiry', async () => {
        const store = await open()
        const rz = await created(store, bytes('one'), 'text/plain')
        const result = await store.update(rz.id, { payload: bytes('two'), contentType: 'application/json', ifMatch: ANY })
        expect(result.ok).toBe(true)
        const read = await store.get(rz.id)
        expect(text(read!.payload)).toBe('two')
        expect(read!.contentType).toBe('application/json')
        expect(read!.etag).not.toBe(rz.etag)
        expect(read!.expiresAt).toBe(rz.expiresAt)
      })

      it('should remember the ETag each write replaced', async () => {
        const store = await open()
        const rz = await created(store)
        expect(rz.previousEtag).toBeNull()
        const first = await store.update(rz.id, { payload: bytes('1'), contentType: 'text/plain', ifMatch: ANY })
        const second = await store.update(rz.id, { payload: bytes('2'), contentType: 'text/plain', ifMatch: ANY })
        if (!first.ok || !second.ok) throw new Error('refused')
        expect(first.rendezvous.previousEtag).toBe(rz.etag)
        expect(second.rendezvous.previousEtag).toBe(first.rendezvous.etag)
        expect((await store.get(rz.id))?.previousEtag).toBe(first.rendezvous.etag)
      })

      it('should issue a new ETag for each write of identical bytes', async () => {
        const store = await open()
        const rz = await created(store, bytes('same'))
        const seen = new Set([rz.etag])
        for (let i = 0; i < 5; i++) {
          const result = await store.update(rz.id, { payload: bytes('same'), contentType: 'text/plain', ifMatch: ANY })
          if (!result.ok) throw new Error(result.reason)
          seen.add(result.rendezvous.etag)
        }
        expect(seen.size).toBe(6)
      })

      it('should apply when If-Match names the current ETag, strong or weak, alone or in a list', async () => {
        const store = await open()
        const rz = await created(store, bytes('v0'))
        let etag = rz.etag
        const headers = [(tag: string) => tag, (tag: string) => `W/${tag}`, (tag: string) => `"nope", ${tag}`]
        for (const header of headers) {
          const result = await store.update(rz.id, { payload: bytes('v'), contentType: 'text/plain', ifMatch: condition(header(etag)) })
          expect(result.ok, header(etag)).toBe(true)
          if (result.ok) etag = result.rendezvous.etag
        }
      })

      it('should refuse a stale ETag and leave payload, content type and ETag untouched', async () => {
        const store = await open()
        const rz = await created(store, bytes('keep'), 'text/plain')
        const result = await store.update(rz.id, { payload: bytes('lost'), contentType: 'x/y', ifMatch: condition('"stale"') })
        expect(result.ok).toBe(false)
        if (result.ok || result.reason !== 'etag_mismatch') throw new Error('expected etag_mismatch')
        expect(result.current.etag).toBe(rz.etag)
        const read = await store.get(rz.id)
        expect(text(read!.payload)).toBe('keep')
        expect(read!.contentType).toBe('text/plain')
        expect(read!.etag).toBe(rz.etag)
      })

      it('should answer not_found for an unknown id', async () => {
        const store = await open()
        const result = await store.update('AAAAAAAAAAAAAAAAAAAAAA', { payload: bytes('x'), contentType: 'text/plain', ifMatch: ANY })
        expect(result).toEqual({ ok: false, reason: 'not_found' })
      })

      it('should let exactly one of 100 concurrent writers with the same If-Match win', async () => {
        const store = await open()
        const rz = await created(store, bytes('start'))
        const ifMatch = condition(rz.etag)
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) => store.update(rz.id, { payload: bytes(`writer ${i}`), contentType: 'text/plain', ifMatch })),
        )
        const winners = results.filter((r) => r.ok)
        expect(winners).toHaveLength(1)
        expect(results.filter((r) => !r.ok && r.reason === 'etag_mismatch')).toHaveLength(99)
        const read = await store.get(rz.id)
        expect(read!.etag).toBe(winners[0]!.ok ? winners[0]!.rendezvous.etag : '')
      })
    })

    describe('retried writes', () => {
      const write = (payload: string, ifMatch: string, contentType = 'text/plain') => ({ payload: bytes(payload), contentType, ifMatch: condition(ifMatch) })

      it('should accept a repeat of the last write as already applied, changing nothing and telling nobody', async () => {
        const store = await open()
        const rz = await created(store, bytes('A1'))
        const first = await store.update(rz.id, write('B1', rz.etag))
        if (!first.ok) throw new Error('refused')
        expect(first.retried).toBe(false)
        const seen: Change[] = []
        const unsubscribe = store.subscribe(rz.id, (change) => seen.push(change))
        // The answer to the first write was lost: the client sends it again, same tag, same bytes.
        const again = await store.update(rz.id, write('B1', rz.etag))
        expect(again).toEqual({ ok: true, rendezvous: first.rendezvous, retried: true })
        const read = await store.get(rz.id)
        expect(read!.etag).toBe(first.rendezvous.etag)
        expect(read!.previousEtag).toBe(rz.etag)
        await sleep(50)
        expect(seen).toEqual([])
        unsubscribe()
      })

      it('should accept the repeat through a proxy-weakened tag too', async () => {
        const store = await open()
        const rz = await created(store, bytes('A1'))
        const first = await store.update(rz.id, write('B1', rz.etag))
        const again = await store.update(rz.id, write('B1', `W/${rz.etag}`))
        expect(first.ok && again.ok && again.retried && again.rendezvous.etag === first.rendezvous.etag).toBe(true)
      })

      it('should refuse the repeat when the bytes or the content type differ', async () => {
        const store = await open()
        const rz = await created(store, bytes('A1'))
        const first = await store.update(rz.id, write('B1', rz.etag))
        if (!first.ok) throw new Error('refused')
        for (const [payload, type] of [
          ['B2', 'text/plain'],
          ['B1 ', 'text/plain'],
          ['B1', 'text/plain;charset=utf-8'],
          ['', 'text/plain'],
        ] as const) {
          const retry = await store.update(rz.id, write(payload, rz.etag, type))
          expect(retry.ok, `${payload} ${type}`).toBe(false)
          if (!retry.ok) expect(retry.reason).toBe('etag_mismatch')
        }
        expect((await store.get(rz.id))!.etag).toBe(first.rendezvous.etag)
      })

      it('should refuse the repeat once someone else has written since', async () => {
        const store = await open()
        const rz = await created(store, bytes('A1'))
        const first = await store.update(rz.id, write('B1', rz.etag))
        if (!first.ok) throw new Error('refused')
        const other = await store.update(rz.id, write('A2', first.rendezvous.etag))
        if (!other.ok) throw new Error('refused')
        const retry = await store.update(rz.id, write('B1', rz.etag))
        expect(retry.ok).toBe(false)
        // Even when the third writer happened to write the same bytes: its change is not the retry's.
        const same = await store.update(rz.id, write('B1', other.rendezvous.etag))
        if (!same.ok) throw new Error('refused')
        expect((await store.update(rz.id, write('B1', rz.etag))).ok).toBe(false)
      })

      it('should never take a stale tag for a retry right after creation', async () => {
        const store = await open()
        const rz = await created(store, bytes('A1'), 'text/plain')
        const stale = await store.update(rz.id, write('A1', '"never-issued"'))
        expect(stale.ok).toBe(false)
      })

      it('should let exactly one of a retry and a racing writer win, never both', async () => {
        const store = await open()
        for (let round = 0; round < 20; round++) {
          const rz = await created(store, bytes('A1'))
          const first = await store.update(rz.id, write('B1', rz.etag))
          if (!first.ok) throw new Error('refused')
          const [retry, racer] = await Promise.all([store.update(rz.id, write('B1', rz.etag)), store.update(rz.id, write('A2', first.rendezvous.etag))])
          expect(racer.ok).toBe(true)
          // Whichever ran first, the retry is only accepted if nothing had changed yet.
          const final = await store.get(rz.id)
          expect(text(final!.payload)).toBe('A2')
          if (retry.ok) expect(retry.rendezvous.etag).toBe(first.rendezvous.etag)
        }
      })
    })

    describe('transactions', () => {
      const write = (payload: string, ifMatch: string) => ({ payload: bytes(payload), contentType: 'text/plain', ifMatch: condition(ifMatch) })

      it('should apply a transaction once and replay its answer for every repeat, whatever the repeat carries', async () => {
        const store = await open()
        const rz = await created(store, bytes('A1'))
        const first = await store.updateWithTransactionId(rz.id, 'txn1', write('B1', rz.etag))
        expect(first.kind === 'answered' && first.answer.kind === 'applied' && !first.replayed).toBe(true)
        if (first.kind !== 'answered' || first.answer.kind !== 'applied') throw new Error('expected applied')
        const repeat = await store.updateWithTransactionId(rz.id, 'txn1', write('something else', first.answer.etag))
        expect(repeat).toEqual({ kind: 'answered', answer: first.answer, replayed: true })
        const read = await store.get(rz.id)
        expect(text(read!.payload)).toBe('B1')
        expect(read!.etag).toBe(first.answer.etag)
      })

      it('should remember a conflict and replay it even once the token would match', async () => {
        const store = await open()
        const rz = await created(store, bytes('A1'))
        const conflict = await store.updateWithTransactionId(rz.id, 'late', write('B1', '"stale"'))
        expect(conflict).toEqual({ kind: 'answered', answer: { kind: 'conflict' }, replayed: false })
        const repeat = await store.updateWithTransactionId(rz.id, 'late', write('B1', rz.etag))
        expect(repeat).toEqual({ kind: 'answered', answer: { kind: 'conflict' }, replayed: true })
        expect((await store.get(rz.id))!.etag).toBe(rz.etag)
      })

      it('should scope transaction ids to their rendezvous', async () => {
        const store = await open()
        const a = await created(store, bytes('a'))
        const b = await created(store, bytes('b'))
        const onA = await store.updateWithTransactionId(a.id, 'same', write('a2', a.etag))
        const onB = await store.updateWithTransactionId(b.id, 'same', write('b2', b.etag))
        expect(onA.kind === 'answered' && !onA.replayed && onA.answer.kind === 'applied').toBe(true)
        expect(onB.kind === 'answered' && !onB.replayed && onB.answer.kind === 'applied').toBe(true)
        expect(text((await store.get(b.id))!.payload)).toBe('b2')
      })

      it('should apply exactly once when the same transaction arrives many times at once', async () => {
        const store = await open()
        const rz = await created(store, bytes('A1'))
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.updateWithTransactionId(rz.id, 'dup', write(`B${i}`, rz.etag))))
        const fresh = results.filter((r) => r.kind === 'answered' && !r.replayed)
        expect(fresh).toHaveLength(1)
        const answers = new Set(results.map((r) => JSON.stringify(r.kind === 'answered' ? r.answer : r)))
        expect(answers.size).toBe(1)
        const read = await store.get(rz.id)
        expect(read!.previousEtag).toBe(rz.etag)
      })

      it('should count remembered transactions against capacity and release them with the rendezvous', async () => {
        const store = await open()
        const rz = await created(store, bytes('12345'))
        await store.updateWithTransactionId(rz.id, 'abc', write('12345', rz.etag))
        expect((await store.stats()).payloadBytes).toBe(5 + transactionCost('abc'))
        await store.updateWithTransactionId(rz.id, 'conflicting', write('x', '"stale"'))
        expect((await store.stats()).payloadBytes).toBe(5 + transactionCost('abc') + transactionCost('conflicting'))
        await store.delete(rz.id)
        expect((await store.stats()).payloadBytes).toBe(0)
      })

      it('should refuse a transaction that does not fit, remembering nothing and writing nothing', async () => {
        const store = await open({ maxTotalBytes: 10 + transactionCost('t1') })
        const rz = await created(store, bytes('1234567890'))
        const fits = await store.updateWithTransactionId(rz.id, 't1', write('1234567890', rz.etag))
        expect(fits.kind).toBe('answered')
        const before = await store.get(rz.id)
        const refused = await store.updateWithTransactionId(rz.id, 't2', write('123', before!.etag))
        expect(refused.kind).toBe('full')
        expect((await store.get(rz.id))!.etag).toBe(before!.etag)
        expect((await store.updateWithTransactionId(rz.id, 't2', write('123', before!.etag))).kind).toBe('full')
      })

      it(`should remember at most ${MAX_TRANSACTIONS_PER_RENDEZVOUS} transactions per rendezvous`, async () => {
        const store = await open()
        const rz = await created(store, bytes('x'))
        for (let i = 0; i < MAX_TRANSACTIONS_PER_RENDEZVOUS; i++) {
          expect((await store.updateWithTransactionId(rz.id, `t${i}`, write('x', '"stale"'))).kind).toBe('answered')
        }
        // Exhausted, not full: no retry will ever fit, so the caller must not be told to try later.
        expect(await store.updateWithTransactionId(rz.id, 'one-more', write('x', '"stale"'))).toEqual({ kind: 'exhausted' })
        // Known ids are still replayed.
        expect((await store.updateWithTransactionId(rz.id, 't0', write('x', '"stale"'))).kind).toBe('answered')
      })

      it('should answer not_found for an unknown or deleted rendezvous', async () => {
        const store = await open()
        expect(await store.updateWithTransactionId('AAAAAAAAAAAAAAAAAAAAAA', 't', write('x', '"x"'))).toEqual({ kind: 'not_found' })
        const rz = await created(store)
        await store.updateWithTransactionId(rz.id, 't', write('x', rz.etag))
        await store.delete(rz.id)
        expect(await store.updateWithTransactionId(rz.id, 't', write('x', rz.etag))).toEqual({ kind: 'not_found' })
      })
    })

    describe('exists', () => {
      it('should say whether a rendezvous is live: created, deleted, expired, never issued', async () => {
        const store = await open()
        expect(await store.exists('AAAAAAAAAAAAAAAAAAAAAA')).toBe(false)
        const kept = await created(store)
        const removed = await created(store)
        expect(await store.exists(kept.id)).toBe(true)
        expect(await store.delete(removed.id)).toBe(true)
        expect(await store.exists(removed.id)).toBe(false)
        expect(await store.exists(kept.id)).toBe(true)
      })
    })

    describe('delete', () => {
      it('should remove the rendezvous once', async () => {
        const store = await open()
        const rz = await created(store, bytes('x'))
        expect(await store.delete(rz.id)).toBe(true)
        expect(await store.get(rz.id)).toBeNull()
        expect(await store.delete(rz.id)).toBe(false)
        const update = await store.update(rz.id, { payload: bytes('y'), contentType: 'text/plain', ifMatch: ANY })
        expect(update).toEqual({ ok: false, reason: 'not_found' })
      })
    })

    describe('expiry', () => {
      it('should treat a rendezvous as gone from the moment it expires', async () => {
        const store = await open({ ttlMs: 150 })
        const rz = await created(store, bytes('x'))
        expect(await store.get(rz.id)).not.toBeNull()
        await sleep(Math.max(0, rz.expiresAt - Date.now()) + 5)
        expect(await store.get(rz.id)).toBeNull()
        expect(await store.exists(rz.id)).toBe(false)
        const update = await store.update(rz.id, { payload: bytes('y'), contentType: 'text/plain', ifMatch: ANY })
        expect(update).toEqual({ ok: false, reason: 'not_found' })
        expect(await store.delete(rz.id)).toBe(false)
      })

      it('should not extend the expiry on writes', async () => {
        const store = await open({ ttlMs: 200 })
        const rz = await created(store, bytes('x'))
        await sleep(100)
        await store.update(rz.id, { payload: bytes('y'), contentType: 'text/plain', ifMatch: ANY })
        await sleep(Math.max(0, rz.expiresAt - Date.now()) + 5)
        expect(await store.get(rz.id)).toBeNull()
      })

      it('should reclaim expired rendezvous without being asked', async () => {
        const store = await open({ ttlMs: 100 })
        for (let i = 0; i < 10; i++) await created(store, bytes('12345'))
        expect(await store.stats()).toMatchObject({ sessions: 10, payloadBytes: 50 })
        await sleep(100 + EXPIRY_GRACE_MS + 100)
        expect(await store.stats()).toMatchObject({ sessions: 0, payloadBytes: 0 })
      })

      it('should count each expiry once, as unused or used, and never a deleted rendezvous', async () => {
        const store = await open({ ttlMs: 150 })
        for (let i = 0; i < 3; i++) await created(store, bytes('nobody answered'))
        for (let i = 0; i < 2; i++) {
          const rz = await created(store, bytes('answered'))
          expect((await store.update(rz.id, { payload: bytes('reply'), contentType: 'text/plain', ifMatch: ANY })).ok).toBe(true)
          expect((await store.update(rz.id, { payload: bytes('again'), contentType: 'text/plain', ifMatch: ANY })).ok).toBe(true)
        }
        expect(await store.delete((await created(store, bytes('cancelled'))).id)).toBe(true)
        expect(store.expiries()).toEqual({ unused: 0, used: 0 })
        await sleep(150 + EXPIRY_GRACE_MS + 100)
        await store.stats()
        await sleep(50)
        await store.stats()
        expect(store.expiries()).toEqual({ unused: 3, used: 2 })
      })
    })

    describe('capacity', () => {
      it('should refuse creation beyond maxSessions and never evict a live rendezvous', async () => {
        const store = await open({ maxSessions: 3 })
        const live = [await created(store), await created(store), await created(store)]
        const refused = await store.create({ payload: bytes('x'), contentType: 'text/plain' })
        expect(refused.ok).toBe(false)
        if (!refused.ok) expect(refused.retryAfterMs).toBeGreaterThan(0)
        for (const rz of live) expect(await store.get(rz.id)).not.toBeNull()
        await store.delete(live[0]!.id)
        expect((await store.create({ payload: bytes('x'), contentType: 'text/plain' })).ok).toBe(true)
      })

      it('should refuse creation beyond maxTotalBytes', async () => {
        const store = await open({ maxTotalBytes: 10 })
        await created(store, bytes('123456'))
        expect((await store.create({ payload: bytes('12345'), contentType: 'text/plain' })).ok).toBe(false)
        expect((await store.create({ payload: bytes('1234'), contentType: 'text/plain' })).ok).toBe(true)
        expect((await store.stats()).payloadBytes).toBe(10)
      })

      it('should refuse an update that grows past maxTotalBytes and leave the payload untouched', async () => {
        const store = await open({ maxTotalBytes: 10 })
        const rz = await created(store, bytes('123456'))
        const grown = await store.update(rz.id, { payload: bytes('12345678901'), contentType: 'text/plain', ifMatch: ANY })
        expect(grown.ok).toBe(false)
        if (!grown.ok) expect(grown.reason).toBe('full')
        const read = await store.get(rz.id)
        expect(text(read!.payload)).toBe('123456')
        expect(read!.etag).toBe(rz.etag)
        const shrunk = await store.update(rz.id, { payload: bytes('12'), contentType: 'text/plain', ifMatch: ANY })
        expect(shrunk.ok).toBe(true)
        expect((await store.stats()).payloadBytes).toBe(2)
      })

      it('should count sessions and payload bytes through every kind of write', async () => {
        const store = await open()
        const a = await created(store, bytes('abc'))
        await created(store, bytes('de'))
        expect(await store.stats()).toMatchObject({ sessions: 2, payloadBytes: 5 })
        await store.update(a.id, { payload: bytes('abcdefg'), contentType: 'text/plain', ifMatch: ANY })
        expect(await store.stats()).toMatchObject({ sessions: 2, payloadBytes: 9 })
        await store.delete(a.id)
        expect(await store.stats()).toMatchObject({ sessions: 1, payloadBytes: 2 })
      })
    })

    describe('subscribe', () => {
      it('should tell subscribers of updates and then of the delete', async () => {
        const store = await open()
        const rz = await created(store)
        const seen: Change[] = []
        const unsubscribe = store.subscribe(rz.id, (change) => seen.push(change))
        await store.update(rz.id, { payload: bytes('1'), contentType: 'text/plain', ifMatch: ANY })
        await store.update(rz.id, { payload: bytes('2'), contentType: 'text/plain', ifMatch: ANY })
        await store.delete(rz.id)
        await waitFor(() => seen.length === 3)
        expect(seen).toEqual(['updated', 'updated', 'deleted'])
        unsubscribe()
      })

      it('should wake every subscriber of the id and no other', async () => {
        const store = await open()
        const rz = await created(store)
        const other = await created(store)
        const woken = new Array<number>(5).fill(0)
        const unsubscribers = woken.map((_, i) => store.subscribe(rz.id, () => woken[i]!++))
        let otherWoken = 0
        unsubscribers.push(store.subscribe(other.id, () => otherWoken++))
        await store.update(rz.id, { payload: bytes('1'), contentType: 'text/plain', ifMatch: ANY })
        await waitFor(() => woken.every((n) => n === 1))
        expect(otherWoken).toBe(0)
        for (const unsubscribe of unsubscribers) unsubscribe()
      })

      it('should not tell subscribers of a refused write', async () => {
        const store = await open()
        const rz = await created(store)
        const seen: Change[] = []
        const unsubscribe = store.subscribe(rz.id, (change) => seen.push(change))
        await store.update(rz.id, { payload: bytes('1'), contentType: 'text/plain', ifMatch: condition('"stale"') })
        await sleep(50)
        expect(seen).toEqual([])
        unsubscribe()
      })

      it('should tell subscribers when the rendezvous expires', async () => {
        const store = await open({ ttlMs: 100 })
        const rz = await created(store)
        const seen: Change[] = []
        const unsubscribe = store.subscribe(rz.id, (change) => seen.push(change))
        await waitFor(() => seen.length > 0, 100 + EXPIRY_GRACE_MS + 200)
        expect(seen).toEqual(['expired'])
        unsubscribe()
      })

      it('should stop calling after unsubscribe and count subscribers back to zero', async () => {
        const store = await open()
        const rz = await created(store)
        const seen: Change[] = []
        const unsubscribe = store.subscribe(rz.id, (change) => seen.push(change))
        expect((await store.stats()).subscribers).toBe(1)
        unsubscribe()
        unsubscribe()
        expect((await store.stats()).subscribers).toBe(0)
        await store.update(rz.id, { payload: bytes('1'), contentType: 'text/plain', ifMatch: ANY })
        await sleep(50)
        expect(seen).toEqual([])
      })
    })

    describe('waitForChange', () => {
      const known = (etag: string) => condition(etag)

      it('should answer changed at once when the ETag already differs', async () => {
        const store = await open()
        const rz = await created(store)
        const outcome = await waitForChange(store, rz.id, known('"old"'), { timeoutMs: 10_000 })
        expect(outcome).toEqual({ kind: 'changed', rendezvous: rz })
        expect((await store.stats()).subscribers).toBe(0)
      })

      it('should answer gone at once for an unknown id', async () => {
        const store = await open()
        const outcome = await waitForChange(store, 'AAAAAAAAAAAAAAAAAAAAAA', { kind: 'any' }, { timeoutMs: 10_000 })
        expect(outcome).toEqual({ kind: 'gone' })
        expect((await store.stats()).subscribers).toBe(0)
      })

      it('should wake with the new state when the rendezvous is written', async () => {
        const store = await open()
        const rz = await created(store)
        const waiting = waitForChange(store, rz.id, known(rz.etag), { timeoutMs: 10_000 })
        await sleep(20)
        const write = await store.update(rz.id, { payload: bytes('news'), contentType: 'text/plain', ifMatch: ANY })
        const outcome = await waiting
        expect(outcome.kind).toBe('changed')
        if (outcome.kind !== 'changed' || !write.ok) throw new Error('expected a change')
        expect(outcome.rendezvous.etag).toBe(write.rendezvous.etag)
        expect(text(outcome.rendezvous.payload)).toBe('news')
        expect((await store.stats()).subscribers).toBe(0)
      })

      it('should wake every waiter of the id on one write', async () => {
        const store = await open()
        const rz = await created(store)
        const waiters = Array.from({ length: 50 }, () => waitForChange(store, rz.id, known(rz.etag), { timeoutMs: 10_000 }))
        await sleep(20)
        expect((await store.stats()).subscribers).toBe(50)
        await store.update(rz.id, { payload: bytes('all'), contentType: 'text/plain', ifMatch: ANY })
        const outcomes = await Promise.all(waiters)
        expect(outcomes.every((o) => o.kind === 'changed')).toBe(true)
        expect((await store.stats()).subscribers).toBe(0)
      })

      it('should answer gone when the rendezvous is deleted during the wait', async () => {
        const store = await open()
        const rz = await created(store)
        const waiting = waitForChange(store, rz.id, known(rz.etag), { timeoutMs: 10_000 })
        await sleep(20)
        await store.delete(rz.id)
        expect(await waiting).toEqual({ kind: 'gone' })
        expect((await store.stats()).subscribers).toBe(0)
      })

      it('should answer gone when the rendezvous expires during the wait', async () => {
        const store = await open({ ttlMs: 200 })
        const rz = await created(store)
        const outcome = await waitForChange(store, rz.id, known(rz.etag), { timeoutMs: 10_000 })
        expect(outcome).toEqual({ kind: 'gone' })
        // Its own timer wakes it at the expiry instant, not the store's sweep.
        expect(Date.now()).toBeGreaterThanOrEqual(rz.expiresAt)
        expect(Date.now()).toBeLessThan(rz.expiresAt + EXPIRY_GRACE_MS)
        expect((await store.stats()).subscribers).toBe(0)
      })

      it('should answer timeout with the unchanged state once the time is up', async () => {
        const store = await open()
        const rz = await created(store)
        const started = Date.now()
        const outcome = await waitForChange(store, rz.id, known(rz.etag), { timeoutMs: 150 })
        expect(Date.now() - started).toBeGreaterThanOrEqual(145)
        expect(outcome).toEqual({ kind: 'timeout', rendezvous: rz })
        expect((await store.stats()).subscribers).toBe(0)
      })

      it('should keep waiting through a write that leaves a known tag current', async () => {
        const store = await open()
        const rz = await created(store)
        const waiting = waitForChange(store, rz.id, { kind: 'any' }, { timeoutMs: 150 })
        await store.update(rz.id, { payload: bytes('still *'), contentType: 'text/plain', ifMatch: ANY })
        const outcome = await waiting
        expect(outcome.kind).toBe('timeout')
      })

      it('should answer aborted when the signal fires, and at once when it already has', async () => {
        const store = await open()
        const rz = await created(store)
        const controller = new AbortController()
        const waiting = waitForChange(store, rz.id, known(rz.etag), { timeoutMs: 10_000, signal: controller.signal })
        await sleep(20)
        controller.abort()
        expect(await waiting).toEqual({ kind: 'aborted' })
        expect(await waitForChange(store, rz.id, known(rz.etag), { timeoutMs: 10_000, signal: controller.signal })).toEqual({ kind: 'aborted' })
        expect((await store.stats()).subscribers).toBe(0)
      })

      it('should answer aborted when any of several signals fires', async () => {
        const store = await open()
        const rz = await created(store)
        const client = new AbortController()
        const shutdown = new AbortController()
        const waiting = waitForChange(store, rz.id, known(rz.etag), { timeoutMs: 10_000, signal: [client.signal, shutdown.signal] })
        await sleep(20)
        shutdown.abort()
        expect(await waiting).toEqual({ kind: 'aborted' })
        expect((await store.stats()).subscribers).toBe(0)
      })

      it('should end every wait sharing a signal through a fan-out, and leave none registered after waits end otherwise', async () => {
        const store = await open()
        const shutdown = new AbortController()
        const shared = new AbortFanout(shutdown.signal)
        const rz = await created(store)
        // Ten waits end by a write, one by its deadline: none stays registered with the fan-out.
        const ended = Array.from({ length: 10 }, () => waitForChange(store, rz.id, known(rz.etag), { timeoutMs: 10_000, signal: shared }))
        const timedOut = waitForChange(store, rz.id, { kind: 'any' }, { timeoutMs: 300, signal: shared })
        // Each wait registers as it starts.
        expect(shared.size).toBe(11)
        await store.update(rz.id, { payload: bytes('next'), contentType: 'text/plain', ifMatch: ANY })
        for (const outcome of await Promise.all(ended)) expect(outcome.kind).toBe('changed')
        expect((await timedOut).kind).toBe('timeout')
        expect(shared.size).toBe(0)
        // Then twenty waits on two rendezvous, all ended by the one shutdown.
        const other = await created(store)
        const current = await store.get(rz.id)
        const held = [
          ...Array.from({ length: 10 }, () => waitForChange(store, rz.id, known(current!.etag), { timeoutMs: 10_000, signal: shared })),
          ...Array.from({ length: 10 }, () => waitForChange(store, other.id, known(other.etag), { timeoutMs: 10_000, signal: shared })),
        ]
        await sleep(20)
        shutdown.abort()
        for (const outcome of await Promise.all(held)) expect(outcome).toEqual({ kind: 'aborted' })
        expect(shared.size).toBe(0)
        expect(shared.aborted).toBe(true)
        // A wait that starts after the shutdown is aborted at once.
        expect(await waitForChange(store, rz.id, known(current!.etag), { timeoutMs: 10_000, signal: shared })).toEqual({ kind: 'aborted' })
        expect((await store.stats()).subscribers).toBe(0)
      })
    })
  })
}

// --- Internal helpers ---

async function created(store: RendezvousStore, payload = bytes('hello'), contentType = 'application/octet-stream'): Promise<Rendezvous> {
  const result = await store.create({ payload, contentType })
  if (!result.ok) throw new Error(`create refused: ${result.reason}`)
  return result.rendezvous
}

function condition(header: string): EntityTagCondition {
  const parsed = parseEntityTagCondition(header)
  if (!parsed.ok) throw new Error(parsed.error)
  return parsed.condition
}

function bytes(s: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new TextEncoder().encode(s))
}

function text(b: Uint8Array): string {
  return new TextDecoder().decode(b)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(5)
  }
}
