/**
 * @module The in-memory store: a `Map` of immutable records, a creation-ordered expiry queue and
 * per-id listener sets. Single-threaded JavaScript makes every operation atomic.
 */

import { conditionMatches } from '@rendezvous/protocol'
import { EtagIssuer, newRendezvousId } from './ids.ts'
import { MAX_TRANSACTIONS_PER_RENDEZVOUS, MIN_RETRY_AFTER_MS, transactionCost } from './limits.ts'
import { repeatsLastWrite } from './repeated-write.ts'
import { Subscriptions } from './subscriptions.ts'
import type {
  Change,
  ChangeListener,
  ConditionalWrite,
  ExpiryCounts,
  CreateResult,
  Rendezvous,
  RendezvousStore,
  StoreLimits,
  StoreStats,
  TransactionAnswer,
  TransactionResult,
  Unsubscribe,
  UpdateResult,
  Write,
} from './types.ts'

export interface MemoryStoreOptions extends StoreLimits {
  /**
   * How often expired rendezvous are reclaimed and their subscribers told, in milliseconds.
   * Reads never return an expired record in between; this only bounds how long its memory lingers.
   * @default 1000
   */
  readonly sweepIntervalMs?: number
  /** Clock in epoch milliseconds; injectable for tests. @default Date.now */
  readonly now?: () => number
}

/**
 * A record as the memory store keeps it: its ETags as serials (numbers inside the object), spelled
 * out only when read. A spelled-out ETag string kept per record would cost about 130 bytes of heap
 * per live rendezvous, about 8% of one holding 1 KiB.
 */
class StoredRendezvous implements Rendezvous {
  readonly #etags: EtagIssuer
  readonly id: string
  readonly payload: Uint8Array<ArrayBuffer>
  readonly contentType: string
  readonly serial: number
  /** The serial of the ETag this write replaced; `NO_SERIAL` after creation. */
  readonly previousSerial: number
  readonly lastModified: number
  readonly expiresAt: number

  constructor(
    etags: EtagIssuer,
    id: string,
    payload: Uint8Array<ArrayBuffer>,
    contentType: string,
    serial: number,
    previousSerial: number,
    lastModified: number,
    expiresAt: number,
  ) {
    this.#etags = etags
    this.id = id
    this.payload = payload
    this.contentType = contentType
    this.serial = serial
    this.previousSerial = previousSerial
    this.lastModified = lastModified
    this.expiresAt = expiresAt
  }

  get etag(): string {
    return this.#etags.format(this.serial)
  }

  get previousEtag(): string | null {
    return this.previousSerial === NO_SERIAL ? null : this.#etags.format(this.previousSerial)
  }
}

/** Serials start at 1. */
const NO_SERIAL = 0

/** Distinct content types kept as shared strings; real clients use a handful. */
const MAX_INTERNED_CONTENT_TYPES = 256
/** Deleted ids the expiry queue may hold beyond the live ones before it is compacted. */
const QUEUE_SLACK = 1024

export class MemoryStore implements RendezvousStore {
  readonly name = 'memory'

  readonly #limits: StoreLimits
  readonly #now: () => number
  readonly #etags = new EtagIssuer()
  readonly #records = new Map<string, StoredRendezvous>()
  readonly #subscriptions = new Subscriptions()
  readonly #contentTypes = new Map<string, string>()
  /** Remembered transaction answers by rendezvous id, for the few rendezvous that use them. */
  readonly #transactions = new Map<string, Map<string, TransactionAnswer>>()
  /**
   * Ids in creation order. The TTL is the same for all, so this is also expiry order and the sweep
   * only ever looks at the head. Deleted ids are skipped when they reach the head, and the queue is
   * compacted once they outnumber the live ones, so its length stays under twice the live count
   * (plus a little slack) whatever the mix of creates and deletes.
   */
  #expiryQueue: string[] = []
  #queueHead = 0
  /** Ids in the queue past its head whose rendezvous is already gone (deleted, or expired on a read). */
  #deletedInQueue = 0
  #payloadBytes = 0
  readonly #sweepTimer: ReturnType<typeof setInterval>
  readonly #expired = { unused: 0, used: 0 }

  constructor(options: MemoryStoreOptions) {
    this.#limits = { ttlMs: options.ttlMs, maxSessions: options.maxSessions, maxTotalBytes: options.maxTotalBytes }
    this.#now = options.now ?? Date.now
    this.#sweepTimer = setInterval(() => this.sweepExpired(), options.sweepIntervalMs ?? 1000)
    // A store alone must not keep the process alive.
    ;(this.#sweepTimer as { unref?: () => void }).unref?.()
  }

  async create(write: Write): Promise<CreateResult> {
    const now = this.#now()
    this.sweepExpired(now)
    const size = write.payload.byteLength
    if (this.#records.size >= this.#limits.maxSessions || this.#payloadBytes + size > this.#limits.maxTotalBytes) {
      return { ok: false, reason: 'full', retryAfterMs: this.#retryAfterMs(now) }
    }
    let id = newRendezvousId()
    // 128 random bits do not collide in practice; the loop makes it a certainty, not a hope.
    while (this.#records.has(id)) id = newRendezvousId()
    const rendezvous = new StoredRendezvous(
      this.#etags,
      id,
      write.payload,
      this.#intern(write.contentType),
      this.#etags.nextSerial(),
      NO_SERIAL,
      now,
      now + this.#limits.ttlMs,
    )
    this.#records.set(id, rendezvous)
    this.#expiryQueue.push(id)
    this.#payloadBytes += size
    return { ok: true, rendezvous }
  }

  async get(id: string): Promise<Rendezvous | null> {
    return this.#live(id, this.#now())
  }

  async exists(id: string): Promise<boolean> {
    return this.#live(id, this.#now()) !== null
  }

  async update(id: string, write: ConditionalWrite): Promise<UpdateResult> {
    return this.#update(id, write, this.#now(), 0)
  }

  async updateWithTransactionId(id: string, transactionId: string, write: ConditionalWrite): Promise<TransactionResult> {
    const now = this.#now()
    if (!this.#live(id, now)) return { kind: 'not_found' }
    let remembered = this.#transactions.get(id)
    const replay = remembered?.get(transactionId)
    if (replay) return { kind: 'answered', answer: replay, replayed: true }
    if ((remembered?.size ?? 0) >= MAX_TRANSACTIONS_PER_RENDEZVOUS) return { kind: 'exhausted' }
    const cost = transactionCost(transactionId)
    const result = this.#update(id, write, now, cost)
    if (!result.ok && result.reason === 'not_found') return { kind: 'not_found' }
    if (!result.ok && result.reason === 'full') return { kind: 'full', retryAfterMs: result.retryAfterMs }
    const answer: TransactionAnswer = result.ok ? { kind: 'applied', etag: result.rendezvous.etag } : { kind: 'conflict' }
    // A fresh write made room for the record already; a retry or a conflict is remembered too, and
    // charged against capacity like a payload.
    const wrote = result.ok && !result.retried
    if (!wrote && this.#payloadBytes + cost > this.#limits.maxTotalBytes) return { kind: 'full', retryAfterMs: this.#retryAfterMs(now) }
    if (!remembered) {
      remembered = new Map()
      this.#transactions.set(id, remembered)
    }
    remembered.set(transactionId, answer)
    this.#payloadBytes += cost
    return { kind: 'answered', answer, replayed: false }
  }

  /** `update`, making room for `reserveBytes` more beside the payload (a transaction's record). */
  #update(id: string, write: ConditionalWrite, now: number, reserveBytes: number): UpdateResult {
    const current = this.#live(id, now)
    if (!current) return { ok: false, reason: 'not_found' }
    if (!conditionMatches(write.ifMatch, current.etag)) {
      if (repeatsLastWrite(write.ifMatch, current, write)) return { ok: true, rendezvous: current, retried: true }
      return { ok: false, reason: 'etag_mismatch', current }
    }
    const growth = write.payload.byteLength - current.payload.byteLength
    if (growth + reserveBytes > 0 && this.#payloadBytes + growth + reserveBytes > this.#limits.maxTotalBytes) {
      return { ok: false, reason: 'full', current, retryAfterMs: this.#retryAfterMs(now) }
    }
    const rendezvous = new StoredRendezvous(
      this.#etags,
      id,
      write.payload,
      this.#intern(write.contentType),
      this.#etags.nextSerial(),
      current.serial,
      now,
      current.expiresAt,
    )
    this.#records.set(id, rendezvous)
    this.#payloadBytes += growth
    this.#subscriptions.notify(id, 'updated', rendezvous)
    return { ok: true, rendezvous, retried: false }
  }

  async delete(id: string): Promise<boolean> {
    const current = this.#live(id, this.#now())
    if (!current) return false
    this.#removeAheadOfQueue(current, 'deleted')
    return true
  }

  subscribe(id: string, listener: ChangeListener): Unsubscribe {
    return this.#subscriptions.subscribe(id, listener)
  }

  async stats(): Promise<StoreStats> {
    return { sessions: this.#records.size, payloadBytes: this.#payloadBytes, subscribers: this.#subscriptions.count }
  }

  evictionPolicy(): null {
    return null
  }

  expiries(): ExpiryCounts {
    return { ...this.#expired }
  }

  available(): boolean {
    return true
  }

  /** Entries in the expiry queue, deleted ones included: bounded by twice the live count plus slack. */
  get expiryQueueLength(): number {
    return this.#expiryQueue.length - this.#queueHead
  }

  async close(): Promise<void> {
    clearInterval(this.#sweepTimer)
    this.#records.clear()
    this.#subscriptions.clear()
    this.#transactions.clear()
    this.#expiryQueue = []
    this.#queueHead = 0
    this.#deletedInQueue = 0
    this.#payloadBytes = 0
  }

  /**
   * Reclaims every expired rendezvous and tells its subscribers. Runs on a timer and before each
   * create; it only looks at the head of the expiry queue, so its cost is the number reclaimed.
   */
  sweepExpired(now: number = this.#now()): void {
    const queue = this.#expiryQueue
    while (this.#queueHead < queue.length) {
      const id = queue[this.#queueHead]!
      const record = this.#records.get(id)
      if (record && record.expiresAt > now) break
      if (record) this.#remove(record, 'expired')
      else this.#deletedInQueue--
      this.#queueHead++
    }
    // Drop the consumed prefix once it dominates, so the array does not grow forever.
    if (this.#queueHead > QUEUE_SLACK && this.#queueHead * 2 > queue.length) {
      this.#expiryQueue = queue.slice(this.#queueHead)
      this.#queueHead = 0
    }
  }

  // --- Internal helpers ---

  /** The record if it is live at `now`; an expired one is reclaimed on the spot. */
  #live(id: string, now: number): StoredRendezvous | null {
    const record = this.#records.get(id)
    if (!record) return null
    if (record.expiresAt > now) return record
    this.#removeAheadOfQueue(record, 'expired')
    return null
  }

  /** Removes a record whose id is not at the head of the expiry queue; the queue keeps the id for now. */
  #removeAheadOfQueue(record: StoredRendezvous, change: Extract<Change, 'deleted' | 'expired'>): void {
    this.#remove(record, change)
    this.#deletedInQueue++
    if (this.#deletedInQueue > this.#records.size + QUEUE_SLACK) this.#compactQueue()
  }

  #remove(record: StoredRendezvous, change: Extract<Change, 'deleted' | 'expired'>): void {
    this.#records.delete(record.id)
    if (change === 'expired') {
      if (record.previousSerial === NO_SERIAL) this.#expired.unused++
      else this.#expired.used++
    }
    this.#payloadBytes -= record.payload.byteLength
    const remembered = this.#transactions.get(record.id)
    if (remembered) {
      for (const transactionId of remembered.keys()) this.#payloadBytes -= transactionCost(transactionId)
      this.#transactions.delete(record.id)
    }
    this.#subscriptions.notify(record.id, change)
  }

  /**
   * Drops deleted ids from the expiry queue. It runs once deleted ids outnumber live ones, so its
   * cost is paid for by at least as many deletes as it removes.
   */
  #compactQueue(): void {
    const live = this.#records
    this.#expiryQueue = this.#expiryQueue.slice(this.#queueHead).filter((id) => live.has(id))
    this.#queueHead = 0
    this.#deletedInQueue = 0
  }

  /** When capacity is likely to free up: the oldest rendezvous's expiry. */
  #retryAfterMs(now: number): number {
    const oldestId = this.#expiryQueue[this.#queueHead]
    const oldest = oldestId === undefined ? undefined : this.#records.get(oldestId)
    const untilExpiry = oldest ? oldest.expiresAt - now : this.#limits.ttlMs
    return Math.max(MIN_RETRY_AFTER_MS, untilExpiry)
  }

  /** Returns a shared copy of a common content type, so 100,000 records hold one string, not 100,000. */
  #intern(contentType: string): string {
    const shared = this.#contentTypes.get(contentType)
    if (shared !== undefined) return shared
    if (this.#contentTypes.size < MAX_INTERNED_CONTENT_TYPES) this.#contentTypes.set(contentType, contentType)
    return contentType
  }
}
