/**
 * @module Where the Redis store's keys live. Every write script takes a rendezvous's record and the
 * books it is charged to (the live set, the sizes, the byte count) together, so on a Redis Cluster
 * they must share a hash slot. The books are therefore split into a fixed number of groups, each
 * pinned to one slot by a hash tag (`{g7}`), each holding its share of the capacity limits; a
 * rendezvous belongs to the group its id names, and its record and change channel carry that
 * group's tag. On one Redis (or through Sentinel) there is one group and no tags: the layout of
 * every earlier version. A prefix that carries a hash tag of its own (`{rz}:`) puts everything in
 * one slot: one group, for cluster-only services whose scripts must stay within a slot.
 */

import type { StoreLimits } from './types.ts'

/** Groups of a cluster layout unless told otherwise: enough to spread writes over 16 primaries. */
export const DEFAULT_CLUSTER_GROUPS = 16
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

export interface Group {
  readonly index: number
  /** The live set, the sizes and the byte count, in that order: what every write script takes beside the record. */
  readonly books: readonly [live: string, sizes: string, bytes: string]
  readonly channel: string
  /** Prefix of this group's record keys (the reconciling script builds them). */
  readonly recordPrefix: string
  readonly reconcileLock: string
  /** This group's share of the limits. */
  readonly maxSessions: number
  readonly maxTotalBytes: number
}

export class KeyLayout {
  readonly groups: readonly Group[]
  /** PUBLISH on one Redis; SPUBLISH on a cluster, so a change reaches only its slot's shard. */
  readonly publish: 'PUBLISH' | 'SPUBLISH'
  readonly #prefix: string
  readonly #tagged: boolean

  constructor(prefix: string, limits: StoreLimits, cluster: { readonly groups: number } | null) {
    this.#prefix = prefix
    const ownTag = /\{[^}]+\}/.test(prefix)
    const count = cluster === null || ownTag ? 1 : cluster.groups
    if (!Number.isInteger(count) || count < 1 || count > 64 || 64 % count !== 0) throw new Error('cluster groups must divide 64 (1, 2, 4, 8, 16, 32 or 64)')
    this.#tagged = cluster !== null && !ownTag
    this.publish = cluster === null ? 'PUBLISH' : 'SPUBLISH'
    const share = (total: number, index: number) => Math.floor(total / count) + (index < total % count ? 1 : 0)
    this.groups = Array.from({ length: count }, (_, index) => {
      const base = this.#groupPrefix(index)
      return {
        index,
        books: [`${base}live`, `${base}sizes`, `${base}bytes`] as const,
        channel: `${base}changes`,
        recordPrefix: `${base}r:`,
        reconcileLock: `${base}reconciling`,
        maxSessions: share(limits.maxSessions, index),
        maxTotalBytes: share(limits.maxTotalBytes, index),
      }
    })
  }

  /** The group a rendezvous id belongs to: its first character, spread evenly over the groups. */
  groupOf(id: string): Group {
    const at = ID_ALPHABET.indexOf(id[0] ?? 'A')
    return this.groups[Math.max(at, 0) % this.groups.length]!
  }

  record(id: string): string {
    return `${this.groupOf(id).recordPrefix}${id}`
  }

  /** The record and its group's books: the keys of every write script, in order. */
  keys(id: string): [string, string, string, string] {
    const group = this.groupOf(id)
    return [`${group.recordPrefix}${id}`, ...group.books]
  }

  #groupPrefix(index: number): string {
    return this.#tagged ? `${this.#prefix}{g${index}}:` : this.#prefix
  }
}
