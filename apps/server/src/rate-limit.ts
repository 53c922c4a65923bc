/**
 * @module Token-bucket rate limiting per client key, in bounded memory.
 */

import type { RateLimit } from './config.ts'

export type TakeResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number }

interface Bucket {
  tokens: number
  /** When `tokens` was last brought up to date, in milliseconds. */
  updatedAt: number
}

const ALLOWED: TakeResult = { ok: true }

/** Distinct client keys remembered at once. Beyond it the longest-known key is forgotten. */
export const DEFAULT_MAX_TRACKED_CLIENTS = 100_000

export class RateLimiter {
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
