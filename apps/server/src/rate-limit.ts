/**
 * @module Token-bucket rate limiting per client key: in this process's bounded memory, or shared by
 * every instance through the store (`RENDEZVOUS_RATE_LIMIT_SCOPE=global`), falling back to this
 * process's own buckets while the store cannot answer.
 */

import type { RendezvousStore } from '@rendezvous/store'
import type { RateLimit } from './config.ts'

export type TakeResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number }

interface Bucket {
  tokens: number
  /** When `tokens` was last brought up to date, in milliseconds. */
  updatedAt: number
}

const ALLOWED: TakeResult = { ok: true }

/** Distinct client keys remembered at once. Beyond it the longest-known key is forgotten. */
const DEFAULT_MAX_TRACKED_CLIENTS = 100_000

/** What the guard asks before letting a client's request in. */
export interface ClientBudget {
  /** Takes one token for `key`, or says how long until one is available. */
  take(key: string): TakeResult | Promise<TakeResult>
  /** Client keys remembered in this process. */
  readonly trackedKeys: number
}

export class RateLimiter implements ClientBudget {
  readonly #capacity: number
  readonly #refillPerMs: number
  readonly #maxKeys: number
  readonly #now: () => number
  readonly #buckets = new Map<string, Bucket>()

  constructor(limit: Extract<RateLimit, { kind: 'bucket' }>, options: { maxKeys?: number; now?: () => number } = {}) {
    this.#capacity = limit.requests
    this.#refillPerMs = limit.requests / (limit.seconds * 1000)
    this.#maxKeys = options.maxKeys ?? DEFAULT_MAX_TRACKED_CLIENTS
    this.#now = options.now ?? performance.now.bind(performance)
  }

  /** Takes one token for `key`, or says how long until one is available. */
  take(key: string): TakeResult {
    const now = this.#now()
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      // Memory stays bounded: forgetting the oldest key only ever gives that client a full bucket.
      if (this.#buckets.size >= this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!)
      bucket = { tokens: this.#capacity, updatedAt: now }
      this.#buckets.set(key, bucket)
    } else {
      bucket.tokens = Math.min(this.#capacity, bucket.tokens + (now - bucket.updatedAt) * this.#refillPerMs)
      bucket.updatedAt = now
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return ALLOWED
    }
    return { ok: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / this.#refillPerMs) }
  }

  get trackedKeys(): number {
    return this.#buckets.size
  }
}

/** A limiter for `limit`, or null when the limit is off. */
export function limiterFor(limit: RateLimit): RateLimiter | null {
  return limit.kind === 'off' ? null : new RateLimiter(limit)
}

/**
 * One bucket per client for all instances, kept by the store (one round trip per decision). While
 * the store cannot answer, this process's own bucket decides, so an outage neither opens the gate
 * nor shuts it.
 */
export class SharedRateLimiter implements ClientBudget {
  readonly #name: string
  readonly #limit: Extract<RateLimit, { kind: 'bucket' }>
  readonly #store: Pick<RendezvousStore, 'available' | 'takeSharedToken'>
  readonly #fallback: RateLimiter

  constructor(name: string, limit: Extract<RateLimit, { kind: 'bucket' }>, store: Pick<RendezvousStore, 'available' | 'takeSharedToken'>) {
    if (!store.takeSharedToken) throw new Error('a shared rate limit needs a store shared by every instance')
    this.#name = name
    this.#limit = limit
    this.#store = store
    this.#fallback = new RateLimiter(limit)
  }

  take(key: string): TakeResult | Promise<TakeResult> {
    if (!this.#store.available()) return this.#fallback.take(key)
    return this.#store.takeSharedToken!(this.#name, key, this.#limit.requests, this.#limit.requests / this.#limit.seconds).catch(() => this.#fallback.take(key))
  }

  get trackedKeys(): number {
    return this.#fallback.trackedKeys
  }
}
