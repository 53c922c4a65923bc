/**
 * @module What every dialect is given: the store, the settings, the guard and the metrics, and the
 * few helpers they share.
 */

import type { RendezvousStore } from '@rendezvous/store'
import type { BodyDeadlines } from '../body.ts'
import type { ServerConfig } from '../config.ts'
import type { CreateGate } from '../create-auth.ts'
import type { Guard } from '../guard.ts'
import type { Metrics } from '../metrics.ts'

export interface DialectContext {
  readonly store: RendezvousStore
  readonly config: ServerConfig
  readonly guard: Guard
  readonly metrics: Metrics
  readonly bodyDeadlines: BodyDeadlines
  readonly createGate: CreateGate
  /** Aborts when the server starts shutting down: held long-polls are answered at once. */
  readonly shutdownSignal: AbortSignal
  /** Counts a body that took longer than the body timeout. */
  readonly onBodyTimeout: () => void
}
