/**
 * @module @rendezvous/store: the storage contract and its in-memory implementation.
 * The conformance suite is exported separately from `@rendezvous/store/testing`.
 */

// --- Contract ---
export type {
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

// --- Long-poll ---
export { type WaitOptions, type WaitOutcome, waitForChange } from './wait-for-change.ts'

// --- Implementations ---
export { MemoryStore, type MemoryStoreOptions } from './memory.ts'

// --- Building blocks ---
export { EtagIssuer, newRendezvousId } from './ids.ts'
