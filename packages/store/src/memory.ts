/**
 * @module The in-memory store: a `Map` of immutable records, a creation-ordered expiry queue and
 * per-id listener sets. Single-threaded JavaScript makes every operation atomic.
 */

import { conditionMatches } from '@rendezvous/protocol'
import { EtagIssuer, newRendezvousId } from './ids.ts'
import type {
  Change,
  ChangeListener,
  ConditionalWrite,
  CreateResult,
  Rendezvous,
  RendezvousStore,
  StoreLimits,
  StoreStats,
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

/** Distinct content types kept as shared strings; real clients use a handful. */
const MAX_INTERNED_CONTENT_TYPES = 256
/** Shortest Retry-After we suggest when full, so clients do not hammer a full server. */
const MIN_RETRY_AFTER_MS = 1000

export class MemoryStore implements RendezvousStore {
  readonly name = 'memory'

  readonly #limits: StoreLimits
  readonly #now: () => number
  readonly #etags = new EtagIssuer()
  readonly #records = new Map<string, Rendezvous>()
  readonly #listeners = new Map<string, Set<ChangeListener>>()
  readonly #contentTypes = new Map<string, string>()
  /**
   * Ids in creation order. The TTL is the same for all, so this is also expiry order and the sweep
   * only ever looks at the head. Deleted ids stay until they reach the head and are skipped.
   */
  #expiryQueue: string[] = []
  #queueHead = 0
  #payloadBytes = 0
  #subscriberCount = 0
  readonly #sweepTimer: ReturnType<typeof setInterval>

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
    const rendezvous: Rendezvous = {
      id,
      payload: write.payload,
      contentType: this.#intern(write.contentType),
      etag: this.#etags.next(),
      previousEtag: null,
      lastModified: now,
      expiresAt: now + this.#limits.ttlMs,
    }
    this.#records.set(id, rendezvous)
    this.#expiryQueue.push(id)
    this.#payloadBytes += size
    return { ok: true, rendezvous }
  }

  async get(id: string): Promise<Rendezvous | null> {
    return this.#live(id, this.#now())
  }

  async update(id: string, write: ConditionalWrite): Promise<UpdateResult> {
    const now = this.#now()
    const current = this.#live(id, now)
    if (!current) return { ok: false, reason: 'not_found' }
    if (!conditionMatches(write.ifMatch, current.etag)) return { ok: false, reason: 'etag_mismatch', current }
    const growth = write.payload.byteLength - current.payload.byteLength
    if (growth > 0 && this.#payloadBytes + growth > this.#limits.maxTotalBytes) {
      return { ok: false, reason: 'full', current, retryAfterMs: this.#retryAfterMs(now) }
    }
    const rendezvous: Rendezvous = {
      id,
      payload: write.payload,
      contentType: this.#intern(write.contentType),
      etag: this.#etags.next(),
      previousEtag: current.etag,
      lastModified: now,
      expiresAt: current.expiresAt,
    }
    this.#records.set(id, rendezvous)
    this.#payloadBytes += growth
    this.#notify(id, 'updated')
    return { ok: true, rendezvous }
  }

  async delete(id: string): Promise<boolean> {
    const current = this.#live(id, this.#now())
    if (!current) return false
    this.#remove(current, 'deleted')
    return true
  }

  subscribe(id: string, listener: ChangeListener): Unsubscribe {
    let listeners = this.#listeners.get(id)
    if (!listeners) {
      listeners = new Set()
      this.#listeners.set(id, listeners)
    }
    // A wrapper makes each subscription distinct, so the same function can subscribe twice.
    const subscription: ChangeListener = (change) => listener(change)
    listeners.add(subscription)
    this.#subscriberCount++
    let active = true
    return () => {
      if (!active) return
      active = false
      this.#subscriberCount--
      const current = this.#listeners.get(id)
      if (!current?.delete(subscription)) return
      if (current.size === 0) this.#listeners.delete(id)
    }
  }

  stats(): StoreStats {
    return { sessions: this.#records.size, payloadBytes: this.#payloadBytes, subscribers: this.#subscriberCount }
  }

  async close(): Promise<void> {
    clearInterval(this.#sweepTimer)
    this.#records.clear()
    this.#listeners.clear()
    this.#expiryQueue = []
    this.#queueHead = 0
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
      this.#queueHead++
    }
    // Drop the consumed prefix once it dominates, so the array does not grow forever.
    if (this.#queueHead > 1024 && this.#queueHead * 2 > queue.length) {
      this.#expiryQueue = queue.slice(this.#queueHead)
      this.#queueHead = 0
    }
  }

  // --- Internal helpers ---

  /** The record if it is live at `now`; an expired one is reclaimed on the spot. */
  #live(id: string, now: number): Rendezvous | null {
    const record = this.#records.get(id)
    if (!record) return null
    if (record.expiresAt > now) return record
    this.#remove(record, 'expired')
    return null
  }

  #remove(record: Rendezvous, change: Extract<Change, 'deleted' | 'expired'>): void {
    this.#records.delete(record.id)
    this.#payloadBytes -= record.payload.byteLength
    this.#notify(record.id, change)
  }

  #notify(id: string, change: Change): void {
    const listeners = this.#listeners.get(id)
    if (!listeners) return
    // Copy first: a listener typically unsubscribes itself while we iterate.
    for (const listener of [...listeners]) listener(change)
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
