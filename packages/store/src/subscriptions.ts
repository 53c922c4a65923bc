/**
 * @module Who listens to which rendezvous in this process: the part of `subscribe` every store
 * shares. A store calls `notify` when it learns of a change; a store that must do something while
 * an id has listeners (Redis watches its expiry) says so through `onFirst` and `onLast`.
 */

import type { Change, ChangeListener, Rendezvous, Unsubscribe } from './types.ts'

export interface SubscriptionHooks {
  /** The id gained its first listener. */
  readonly onFirst?: (id: string) => void
  /** The id lost its last listener. */
  readonly onLast?: (id: string) => void
}

export class Subscriptions {
  readonly #byId = new Map<string, Set<ChangeListener>>()
  readonly #hooks: SubscriptionHooks
  #count = 0

  constructor(hooks: SubscriptionHooks = {}) {
    this.#hooks = hooks
  }

  /** Listeners registered and not yet unsubscribed. */
  get count(): number {
    return this.#count
  }

  /** Ids with at least one listener. */
  ids(): IterableIterator<string> {
    return this.#byId.keys()
  }

  subscribe(id: string, listener: ChangeListener): Unsubscribe {
    let listeners = this.#byId.get(id)
    if (!listeners) {
      listeners = new Set()
      this.#byId.set(id, listeners)
      this.#hooks.onFirst?.(id)
    }
    // A wrapper makes each subscription distinct, so the same function can subscribe twice.
    const subscription: ChangeListener = (change, current) => listener(change, current)
    listeners.add(subscription)
    this.#count++
    let active = true
    return () => {
      if (!active) return
      active = false
      this.#count--
      const current = this.#byId.get(id)
      if (!current?.delete(subscription)) return
      if (current.size === 0) {
        this.#byId.delete(id)
        this.#hooks.onLast?.(id)
      }
    }
  }

  notify(id: string, change: Change, current?: Rendezvous): void {
    const listeners = this.#byId.get(id)
    if (!listeners) return
    // Copy first: a listener typically unsubscribes itself while we iterate.
    for (const listener of [...listeners]) listener(change, current)
  }

  /** Forgets every listener, without telling them or the hooks (the store is closing). */
  clear(): void {
    this.#byId.clear()
  }
}
