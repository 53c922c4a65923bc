/**
 * @module The long-poll primitive: wait until a rendezvous no longer carries a known ETag. Built
 * only on the `RendezvousStore` interface, so every store gets it, and event-driven: it sleeps on a
 * subscription and a deadline timer, never in a polling loop.
 */

import { type EntityTagCondition, conditionMatches } from '@rendezvous/protocol'
import type { AbortSource } from './abort-fanout.ts'
import type { Rendezvous, RendezvousStore } from './types.ts'

export type WaitOutcome =
  /** The ETag moved on: here is the new state. */
  | { readonly kind: 'changed'; readonly rendezvous: Rendezvous }
  /** Deleted or expired, before or during the wait. */
  | { readonly kind: 'gone' }
  /** The time ran out with nothing new: here is the unchanged state. */
  | { readonly kind: 'timeout'; readonly rendezvous: Rendezvous }
  /** The caller gave up (client disconnected, server shutting down). */
  | { readonly kind: 'aborted' }

export interface WaitOptions {
  /** Longest wait. The rendezvous's own expiry ends the wait earlier, as `gone`. */
  readonly timeoutMs: number
  /**
   * Ends the wait as `aborted` when it fires; several may be given (say, the client's disconnect and
   * the server's shutdown) without the cost of combining them into one. A signal that many waits
   * share should come through an `AbortFanout`.
   */
  readonly signal?: AbortSource | readonly AbortSource[]
}

/**
 * Resolves as soon as rendezvous `id` no longer matches `known` (an `If-None-Match` condition),
 * is deleted or expires, `timeoutMs` passes, or `signal` aborts. Subscribes before it reads, so a
 * write landing between the two cannot be missed, and releases its subscription, timer and abort
 * listener on every path out.
 *
 * @example
 * const outcome = await waitForChange(store, id, { kind: 'tags', tags: [{ weak: false, opaque: etag }] }, { timeoutMs: 30_000, signal })
 * if (outcome.kind === 'changed') send(outcome.rendezvous.payload)
 */
export function waitForChange(store: RendezvousStore, id: string, known: EntityTagCondition, { timeoutMs, signal }: WaitOptions): Promise<WaitOutcome> {
  const signals = signal === undefined ? [] : Array.isArray(signal) ? (signal as readonly AbortSource[]) : [signal as AbortSource]
  return new Promise<WaitOutcome>((resolve, reject) => {
    let settled = false
    let timer: ReturnType<typeof setTimeout> | undefined

    const release = () => {
      settled = true
      clearTimeout(timer)
      unsubscribe()
      for (const s of signals) s.removeEventListener('abort', onAbort)
    }
    const settle = (outcome: WaitOutcome) => {
      if (settled) return
      release()
      resolve(outcome)
    }
    /** A store fault (never an expected outcome): release everything and pass it on. */
    const fail = (error: unknown) => {
      if (settled) return
      release()
      reject(error)
    }
    /** Settles when `current` is gone or has moved on; else hands it back. */
    const decide = (current: Rendezvous | null): Rendezvous | undefined => {
      if (settled) return undefined
      if (!current) return void settle({ kind: 'gone' })
      if (!conditionMatches(known, current.etag)) return void settle({ kind: 'changed', rendezvous: current })
      return current
    }
    /** Reads the current state and decides on it. */
    const readAndDecide = async (): Promise<Rendezvous | undefined> => decide(await store.get(id))
    const onAbort = () => settle({ kind: 'aborted' })

    // Subscribe first, read second: nothing written in between can slip past.
    const unsubscribe = store.subscribe(id, (change, current) => {
      if (change !== 'updated') return settle({ kind: 'gone' })
      // A write of this process comes with its result; any other notification is only a hint to
      // look again (it may be spurious or already outdated).
      if (current) decide(current)
      else readAndDecide().catch(fail)
    })
    if (signals.some((s) => s.aborted)) return settle({ kind: 'aborted' })
    // Not `once`: `release` removes the listener on every path out, and parsing the options costs.
    for (const s of signals) s.addEventListener('abort', onAbort)

    // One timer, for whichever comes first: the deadline or the rendezvous's expiry. Each time it
    // fires we read again, so an early-firing timer or a clock step only costs one more read.
    const deadline = Date.now() + timeoutMs
    const arm = (current: Rendezvous) => {
      // A read that started before a racing write may finish after that write settled the wait.
      if (settled) return
      // Once this clock says the rendezvous has expired and the store still has it, the store's
      // clock is behind ours: it will say so itself when it expires it (a subscriber is told), so
      // only the deadline is left to wake for. Re-arming for an instant already past would spin.
      const wakeAt = current.expiresAt > Date.now() ? Math.min(deadline, current.expiresAt) : deadline
      timer = setTimeout(onTimer, Math.max(0, wakeAt - Date.now()))
    }
    const onTimer = () => {
      readAndDecide().then((current) => {
        if (!current) return
        if (Date.now() >= deadline) settle({ kind: 'timeout', rendezvous: current })
        else arm(current)
      }, fail)
    }
    readAndDecide().then((current) => current && arm(current), fail)
  })
}
