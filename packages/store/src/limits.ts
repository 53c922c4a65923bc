/**
 * @module Bounds every store applies the same way, so that the stores agree on what fits.
 */

/** Transactions one rendezvous remembers (MSC4388 `PUT /{id}/{txnId}`); a login needs a handful. */
export const MAX_TRANSACTIONS_PER_RENDEZVOUS = 64

/** Bytes a remembered transaction is charged against `maxTotalBytes`, on top of its id's length. */
export const TRANSACTION_COST_BYTES = 64

/** Shortest Retry-After a full store suggests, so clients do not hammer it. */
export const MIN_RETRY_AFTER_MS = 1000

/** What remembering transaction `transactionId` costs against `maxTotalBytes`. */
export function transactionCost(transactionId: string): number {
  return TRANSACTION_COST_BYTES + transactionId.length
}
