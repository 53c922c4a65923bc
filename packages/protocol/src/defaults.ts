/**
 * @module Defaults of docs/protocol.md. The server's configuration starts from these values; clients
 * may rely on them when a deployment does not say otherwise.
 */

/** Seconds a rendezvous lives after creation. Fixed at creation; writes do not extend it. */
export const DEFAULT_TTL_SECONDS = 120
/** Largest payload accepted on create or update. The seed draft recommends at least 10 KB. */
export const DEFAULT_MAX_BYTES = 10_240
/** Live rendezvous at once; creation answers 429 beyond it. */
export const DEFAULT_MAX_SESSIONS = 100_000
/** Payload bytes held at once across all live rendezvous. */
export const DEFAULT_MAX_TOTAL_BYTES = 268_435_456
/** Upper bound for `Prefer: wait=N` on a long-poll GET. */
export const DEFAULT_MAX_WAIT_SECONDS = 30
/** Long-poll requests held at once; over it a GET answers at once. */
export const DEFAULT_MAX_WAITERS = 50_000
/** Content type assumed when a write names none (seed draft). */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream'
/** Seconds a browser may cache a CORS preflight answer. */
export const PREFLIGHT_MAX_AGE_SECONDS = 86_400
