/**
 * @module The storage contract. Every store (memory, Redis) implements
 * `RendezvousStore` and passes the shared conformance suite in `testing/conformance.ts`.
 *
 * Expected outcomes (unknown id, ETag mismatch, store full) are return values; only faults throw,
 * and a backend that cannot be reached throws `StoreUnavailableError`.
 */

import type { EntityTagCondition } from '@rendezvous/protocol'

/** One live rendezvous. Records are immutable: a write replaces the record, never mutates it. */
export interface Rendezvous {
  /** 128 random bits, base64url. A bearer secret: never log it whole. */
  readonly id: string
  readonly payload: Uint8Array<ArrayBuffer>
  /** Stored verbatim and echoed verbatim. */
  readonly contentType: string
  /** Strong, quoted entity-tag, unique per rendezvous and per write. */
  readonly etag: string
  /**
   * The ETag this write replaced (null after creation), so a client that retries a write whose
   * answer it lost can be recognised (MSC4388's exact-retry rule).
   */
  readonly previousEtag: string | null
  /** Epoch milliseconds of the last write (creation counts as one). */
  readonly lastModified: number
  /** Epoch milliseconds after which the rendezvous is gone. Fixed at creation. */
  readonly expiresAt: number
}

/** What a create or update writes. */
export interface Write {
  readonly payload: Uint8Array<ArrayBuffer>
  readonly contentType: string
}

/**
 * An update is a compare-and-swap: it applies only when `ifMatch` matches the current ETag. A write
 * that fails the condition but repeats the last applied write exactly (its `ifMatch` names the ETag
 * that write replaced, and payload and content type are byte-identical to the current state) is a
 * retry whose answer was lost: it succeeds as `retried` and changes nothing (RFC 9110 section
 * 13.1.1; MSC4388's exact retry).
 */
export interface ConditionalWrite extends Write {
  readonly ifMatch: EntityTagCondition
}

/** What a transaction's write came to: remembered for the rendezvous's life and replayed on a repeat. */
export type TransactionAnswer =
  /** The write applied (or was recognised as a retry): the ETag it left current then. */
  | { readonly kind: 'applied'; readonly etag: string }
  /** The condition failed: MSC4388's 409. */
  | { readonly kind: 'conflict' }

export type CreateResult =
  | { readonly ok: true; readonly rendezvous: Rendezvous }
  | { readonly ok: false; readonly reason: 'full'; readonly retryAfterMs: number }

export type UpdateResult =
  /** `retried`: the write had already been applied; `rendezvous` is the unchanged current state. */
  | { readonly ok: true; readonly rendezvous: Rendezvous; readonly retried: boolean }
  | { readonly ok: false; readonly reason: 'not_found' }
  | { readonly ok: false; readonly reason: 'etag_mismatch'; readonly current: Rendezvous }
  | { readonly ok: false; readonly reason: 'full'; readonly current: Rendezvous; readonly retryAfterMs: number }

export type TransactionResult =
  /** `replayed`: the transaction id was seen before and this is its remembered answer. */
  | { readonly kind: 'answered'; readonly answer: TransactionAnswer; readonly replayed: boolean }
  | { readonly kind: 'not_found' }
  /** The store is full. Nothing changed. */
  | { readonly kind: 'full'; readonly retryAfterMs: number }
  /**
   * This rendezvous remembers as many transactions as it may (`MAX_TRANSACTIONS_PER_RENDEZVOUS`),
   * and will until it expires: no new transaction id can be accepted. Nothing changed.
   */
  | { readonly kind: 'exhausted' }

/** What happened to a rendezvous someone subscribed to. `deleted` and `expired` are final. */
export type Change = 'updated' | 'deleted' | 'expired'

/**
 * Called synchronously after the change is applied. Must not throw. With `updated`, `current` is
 * the new state when the store has it at hand (a write made by this process), so a waiter need not
 * read it back; absent, the listener reads.
 */
export type ChangeListener = (change: Change, current?: Rendezvous) => void

export type Unsubscribe = () => void

export interface StoreStats {
  /** Live rendezvous (expired ones not yet reclaimed may still count until the next sweep). */
  readonly sessions: number
  /** Payload bytes held by those rendezvous, plus what their remembered transactions are charged. */
  readonly payloadBytes: number
  /** Change listeners currently registered. */
  readonly subscribers: number
}

/** Limits every store enforces. */
export type SharedTokenResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number }

export interface ExpiryCounts {
  readonly unused: number
  readonly used: number
}

export interface StoreLimits {
  /** Lifetime of a rendezvous from its creation, in milliseconds. */
  readonly ttlMs: number
  /** Live rendezvous at once; creation is refused beyond it. Live ones are never evicted. */
  readonly maxSessions: number
  /** Payload bytes held at once; a create or growing update beyond it is refused. */
  readonly maxTotalBytes: number
}

export interface RendezvousStore {
  /** Short backend name for logs and metrics, e.g. `memory`. */
  readonly name: string

  /** How the backend is deployed, where it has a choice: `single`, `sentinel` or `cluster` for Redis. */
  readonly topology?: string

  /** Creates a rendezvous holding `write`, unless the store is full. */
  create(write: Write): Promise<CreateResult>

  /** The live rendezvous with this id, or null when unknown, deleted or expired. */
  get(id: string): Promise<Rendezvous | null>

  /**
   * Whether the rendezvous is live, without reading its payload: what a write asks before it waits
   * for a slow body.
   */
  exists(id: string): Promise<boolean>

  /** Replaces the payload when `ifMatch` holds; atomically, so one of N racing writers wins. */
  update(id: string, write: ConditionalWrite): Promise<UpdateResult>

  /**
   * `update` under a transaction id (MSC4388's `PUT /{id}/{txnId}`): the first time an id is seen
   * the write is tried and its answer remembered for the rendezvous's life; every repeat of the id
   * gets that answer back and writes nothing, whatever it carries. Ids are scoped to the
   * rendezvous. Remembered answers count against capacity (`TRANSACTION_COST_BYTES` plus the id's
   * length each, at most `MAX_TRANSACTIONS_PER_RENDEZVOUS`).
   */
  updateWithTransactionId(id: string, transactionId: string, write: ConditionalWrite): Promise<TransactionResult>

  /** Removes the rendezvous. False when it was not live. */
  delete(id: string): Promise<boolean>

  /**
   * Calls `listener` after every change of rendezvous `id` until unsubscribed. Subscribing to an id
   * that is not live is allowed (the caller reads after subscribing and sees it is gone).
   *
   * @example
   * const unsubscribe = store.subscribe(id, (change) => console.log(change))
   * try { ... } finally { unsubscribe() }
   */
  subscribe(id: string, listener: ChangeListener): Unsubscribe

  stats(): Promise<StoreStats>

  /**
   * False while the store cannot serve (its backend unreachable): the server reports not ready. Its
   * operations then throw `StoreUnavailableError` rather than hang.
   */
  available(): boolean

  /**
   * Whether the backend may throw rendezvous away before they expire: Redis's `maxmemory-policy` as
   * it reported it (only `noeviction` keeps every live rendezvous), `unknown` when it would not
   * say, null for a store that never evicts (memory).
   */
  evictionPolicy(): string | null

  /**
   * Rendezvous this instance saw reach their expiry, since it opened: `unused` were never written
   * after creation (a QR code nobody answered), `used` were. With Redis each expiry is counted by the
   * one instance that reclaims it, so the sum over instances is the whole count.
   */
  expiries(): ExpiryCounts

  /**
   * A token bucket every instance on this store shares (a store shared by several instances has
   * it; the memory store has none): takes one token from `name`'s bucket for `key`, holding at most
   * `capacity` and refilled at `refillPerSecond`. Throws `StoreUnavailableError` when the store
   * cannot answer, for the caller to fall back to a bucket of its own.
   */
  readonly takeSharedToken?: (name: string, key: string, capacity: number, refillPerSecond: number) => Promise<SharedTokenResult>

  /** Stops timers and releases everything. The store is unusable afterwards. */
  close(): Promise<void>
}
