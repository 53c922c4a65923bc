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
  ExpiryCounts,
  SharedTokenResult,
  TransactionAnswer,
  TransactionResult,
  Unsubscribe,
  UpdateResult,
  Write,
} from './types.ts'

export { StoreUnavailableError } from './errors.ts'
export { MAX_TRANSACTIONS_PER_RENDEZVOUS, TRANSACTION_COST_BYTES, transactionCost } from './limits.ts'

// --- Long-poll ---
export { type WaitOptions, type WaitOutcome, waitForChange } from './wait-for-change.ts'
export { AbortFanout, type AbortSource } from './abort-fanout.ts'

// --- Implementations ---
export { MemoryStore, type MemoryStoreOptions } from './memory.ts'

// --- Building blocks ---
export { EtagIssuer, newRendezvousId } from './ids.ts'
export { repeatsLastWrite } from './repeated-write.ts'
