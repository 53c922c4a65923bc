/**
 * @module The storage contract. Every store (memory today, Redis later) implements
 * `RendezvousStore` and passes the shared conformance suite in `testing/conformance.ts`.
 *
 * Expected outcomes (unknown id, ETag mismatch, store full) are return values; only faults throw.
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

/** An update is a compare-and-swap: it applies only when `ifMatch` matches the current ETag. */
export interface ConditionalWrite extends Write {
  readonly ifMatch: EntityTagCondition
}

export type CreateResult =
  | { readonly ok: true; readonly rendezvous: Rendezvous }
  | { readonly ok: false; readonly reason: 'full'; readonly retryAfterMs: number }

export type UpdateResult =
  | { readonly ok: true; readonly rendezvous: Rendezvous }
  | { readonly ok: false; readonly reason: 'not_found' }
  | { readonly ok: false; readonly reason: 'etag_mismatch'; readonly current: Rendezvous }
  | { readonly ok: false; readonly reason: 'full'; readonly current: Rendezvous; readonly retryAfterMs: number }

/** What happened to a rendezvous someone subscribed to. `deleted` and `expired` are final. */
export type Change = 'updated' | 'deleted' | 'expired'

/** Called synchronously after the change is applied. Must not throw. */
export type ChangeListener = (change: Change) => void

export type Unsubscribe = () => void

export interface StoreStats {
  /** Live rendezvous (expired ones not yet reclaimed may still count until the next sweep). */
  readonly sessions: number
  /** Payload bytes held by those rendezvous. */
  readonly payloadBytes: number
  /** Change listeners currently registered. */
  readonly subscribers: number
}

/** Limits every store enforces. */
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

  /** Creates a rendezvous holding `write`, unless the store is full. */
  create(write: Write): Promise<CreateResult>

  /** The live rendezvous with this id, or null when unknown, deleted or expired. */
  get(id: string): Promise<Rendezvous | null>

  /** Replaces the payload when `ifMatch` holds; atomically, so one of N racing writers wins. */
  update(id: string, write: ConditionalWrite): Promise<UpdateResult>

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

  stats(): StoreStats

  /** Stops timers and releases everything. The store is unusable afterwards. */
  close(): Promise<void>
}
