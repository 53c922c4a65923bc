/**
 * @module The Redis store: rendezvous shared by every instance that points at one Redis (or Valkey).
 * Each operation is one Lua script (`redis-scripts.ts`), so compare-and-swap, capacity and the
 * exact-retry rule hold across instances. Payloads travel as Buffers and come back byte for byte.
 *
 * Changes reach other instances through one pub/sub channel and one subscriber connection per
 * process, fanned out to local listeners; a process tells its own listeners directly. When the
 * subscriber reconnects, every local listener is told to look again, so a notification lost in the
 * outage strands nobody. While Redis is unreachable every operation throws
 * `StoreUnavailableError` at once; when Redis hangs, within a second or two of the health check
 * noticing.
 */

import { Cluster, Redis, type RedisOptions } from 'ioredis'
import { StoreUnavailableError } from './errors.ts'
import { EtagIssuer, encodeBase64Url, newRendezvousId } from './ids.ts'
import { MAX_TRANSACTIONS_PER_RENDEZVOUS, MIN_RETRY_AFTER_MS, transactionCost } from './limits.ts'
import {
  CREATE,
  DELETE,
  RECONCILE,
  RECORD_FIELDS,
  SCRIPTS,
  STATS,
  type Script,
  TAKE_TOKEN,
  UPDATE,
  type Reclaimed,
  type UpdateReply,
  changeMessage,
  decodeRecord,
  parseChangeMessage,
} from './redis-scripts.ts'
import { DEFAULT_CLUSTER_GROUPS, type Group, KeyLayout } from './redis-layout.ts'
import { parseRedisTarget, sentinelOptions } from './redis-target.ts'
import { Subscriptions } from './subscriptions.ts'
import type {
  ChangeListener,
  ConditionalWrite,
  CreateResult,
  ExpiryCounts,
  Rendezvous,
  RendezvousStore,
  SharedTokenResult,
  StoreLimits,
  StoreStats,
  TransactionResult,
  Unsubscribe,
  UpdateResult,
  Write,
} from './types.ts'

export interface RedisStoreOptions extends StoreLimits {
  /**
   * `redis://[user:password@]host[:port][/db]`, `rediss://…` for TLS, or
   * `redis+sentinel://[:password@]host:port[,host:port…]/<primary name>[/db]` (see `redis-target.ts`).
   */
  readonly url: string
  /** The sentinels' own password, when they have one (the URL's is the data nodes'). */
  readonly sentinelPassword?: string
  /**
   * Replicas each write must reach before it is acknowledged (Redis's WAIT), so that a failover
   * cannot lose it; a write that reaches fewer within `waitTimeoutMs` fails as unavailable (503)
   * and the client retries it. @default 0 (acknowledged once the primary has it)
   */
  readonly waitReplicas?: number
  /** @default 500 */
  readonly waitTimeoutMs?: number
  /**
   * With `redis+cluster://`: how many slot-pinned groups the capacity books are split into (see
   * `redis-layout.ts`); every instance must use the same number. @default 16
   */
  readonly clusterGroups?: number
  /** Prefix of every key and of the change channel. @default 'rz:' */
  readonly prefix?: string
  /**
   * Longest Redis may take to answer a health check before the connection is dropped and opened
   * again (failing the commands waiting on it, which become 503s). One check a second stands in
   * for a timer per command. @default 2000
   */
  readonly healthTimeoutMs?: number
  /**
   * How often expired ids are reclaimed from the bookkeeping, in milliseconds: one script per group
   * per interval, also when idle (creates reclaim too, so a longer interval only leaves the byte
   * count to fall later). @default 1000
   */
  readonly reclaimIntervalMs?: number
  /**
   * How often Redis is asked whether it still answers (a PING), in milliseconds; a Redis that stops
   * answering is noticed within this plus `healthTimeoutMs`. @default 1000
   */
  readonly healthIntervalMs?: number
  /**
   * Where Redis may evict keys (a `maxmemory-policy` other than `noeviction`), how often the books
   * (live set, sizes, byte count) are rebuilt from the records still there. @default 30000
   */
  readonly reconcileIntervalMs?: number
  /**
   * Told of connection trouble (the store recovers by itself) and of a Redis set up to lose data
   * (`warning`); never given payloads or ids.
   */
  readonly onConnectionEvent?: (event: 'error' | 'reconnected' | 'warning', detail: string) => void
}

/** One Redis, or a cluster of them: the commands the store uses are the same on both. */
type Connection = Redis | Cluster
/** A connection with the scripts defined (`SCRIPTS`): each under its name, and its `…Buffer` form answering with Buffers. */
type Client = Connection
/** How a defined script is called: its name is only known at run time. */
type ScriptCommand = (...args: (string | Buffer | number)[]) => Promise<unknown>

/** The expiry watch of one id with listeners; replaced when the id loses them and gains them again. */
interface ExpiryWatch {
  timer: ReturnType<typeof setTimeout> | undefined
}

/** How often the store checks that Redis still answers. */
const HEALTH_INTERVAL_MS = 1000
/** Longest a command that failed on a cluster waits for the slots to be asked again before it is retried. */
const SLOT_REFRESH_WAIT_MS = 1000
/** Longest a call made before the first connection is up waits for it. */
const FIRST_CONNECTION_WAIT_MS = 2000

export class RedisStore implements RendezvousStore {
  readonly name = 'redis'
  readonly topology: 'single' | 'sentinel' | 'cluster'

  readonly #limits: StoreLimits
  readonly #prefix: string
  /**
   * Where each rendezvous's keys are, and the books it is charged to, built once: a key built per
   * call is a new string for the client to measure and copy each time.
   */
  readonly #layout: KeyLayout
  /** Names this process in change messages, so it can skip its own. */
  readonly #instance = encodeBase64Url(crypto.getRandomValues(new Uint8Array(9)), 0, 9)
  readonly #etags = new EtagIssuer()
  readonly #client: Client
  /** Where write scripts go: the client itself, or with WAIT a connection of their own. */
  readonly #writer: Client
  readonly #subscriber: Connection
  readonly #subscriptions = new Subscriptions({ onFirst: (id) => this.#watchExpiry(id), onLast: (id) => this.#unwatchExpiry(id) })
  readonly #expiryWatches = new Map<string, ExpiryWatch>()
  readonly #reclaimTimer: ReturnType<typeof setInterval>
  readonly #healthTimer: ReturnType<typeof setInterval>
  #subscriberWasReady = false
  /** True while the subscriber's SUBSCRIBE is confirmed: changes published now reach this process. */
  #subscribed = false
  #connectedOnce = false
  /** Redis's `maxmemory-policy`, read on every connection; null until first read. */
  #evictionPolicy: string | null = null
  /** Expired ids this process reclaimed, as the scripts counted them. */
  readonly #expired = { unused: 0, used: 0 }
  readonly #reconcileTimer: ReturnType<typeof setInterval>
  readonly #waitReplicas: number
  readonly #waitTimeoutMs: number
  /** Settles when the first connection is ready, or when waiting for it any longer is pointless. */
  readonly #firstConnection: Promise<void>
  #closed = false

  constructor(options: RedisStoreOptions) {
    this.#limits = { ttlMs: options.ttlMs, maxSessions: options.maxSessions, maxTotalBytes: options.maxTotalBytes }
    this.#prefix = options.prefix ?? 'rz:'
    this.#waitReplicas = options.waitReplicas ?? 0
    this.#waitTimeoutMs = options.waitTimeoutMs ?? 500
    const report = options.onConnectionEvent ?? (() => {})
    const connection: RedisOptions = {
      // Fail at once while disconnected: 503 now, not a request hung until its client gives up.
      // (A Redis that accepts commands and never answers is caught by the health check.)
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      // Reconnect for ever, backing off to one attempt a second: an outage must end by itself.
      retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
      enableAutoPipelining: true,
    }
    // Schemes are case-insensitive, but the client looks for `rediss://` as written to turn TLS on:
    // the target carries the scheme in lower case.
    const target = parseRedisTarget(options.url)
    this.topology = target.kind
    this.#layout = new KeyLayout(this.#prefix, this.#limits, target.kind === 'cluster' ? { groups: options.clusterGroups ?? DEFAULT_CLUSTER_GROUPS } : null)
    const open = (extra: RedisOptions & { shardedSubscribers?: boolean } = {}): Connection => {
      const { shardedSubscribers, ...redisExtra } = extra
      switch (target.kind) {
        case 'single':
          return new Redis(target.url, { ...connection, ...redisExtra })
        case 'sentinel':
          return new Redis({ ...sentinelOptions(target, options.sentinelPassword), ...connection, ...redisExtra })
        case 'cluster': {
          const { enableOfflineQueue, enableAutoPipelining, retryStrategy: _, ...perNode } = { ...connection, ...redisExtra }
          return new Cluster(
            target.nodes.map((node) => ({ host: node.host, port: node.port })),
            {
              redisOptions: {
                ...perNode,
                ...(target.username ? { username: target.username } : {}),
                ...(target.password ? { password: target.password } : {}),
                ...(target.tls ? { tls: {} } : {}),
              },
              enableOfflineQueue: enableOfflineQueue ?? false,
              enableAutoPipelining: enableAutoPipelining ?? true,
              clusterRetryStrategy: (attempt) => Math.min(50 * attempt, 1000),
              // A command meeting a failover is retried a few times, then fails (503), never held long.
              retryDelayOnFailover: 100,
              retryDelayOnClusterDown: 100,
              maxRedirections: 8,
              slotsRefreshTimeout: 2000,
              // Who serves which slot is asked again every second, so a failover is followed within one.
              slotsRefreshInterval: 1000,
              scaleReads: 'master',
              ...(shardedSubscribers ? { shardedSubscribers: true } : {}),
            },
          )
        }
      }
    }
    const withScripts = (redis: Connection): Client => {
      for (const script of SCRIPTS) redis.defineCommand(script.name, { lua: script.lua, numberOfKeys: script.keys })
      return redis as Client
    }
    this.#client = withScripts(open())
    this.#client.on('error', (error: Error) => report('error', `redis: ${error.message}`))
    // WAIT holds its connection until the replicas answer: writes that wait get a connection of
    // their own, so reads and the health check never queue behind them.
    this.#writer = this.#waitReplicas > 0 ? withScripts(open()) : this.#client
    if (this.#writer !== this.#client) this.#writer.on('error', (error: Error) => report('error', `redis writer: ${error.message}`))
    // Read on every connection: a failover or a restart may bring a Redis configured otherwise.
    this.#client.on('ready', () => {
      void this.#readEvictionPolicy().then((policy) => {
        this.#evictionPolicy = policy
        if (policy !== 'noeviction') {
          report(
            'warning',
            policy === 'unknown'
              ? 'Redis would not say its maxmemory-policy (CONFIG GET and INFO refused): unless it is noeviction, Redis may drop live rendezvous; the books are rebuilt every interval'
              : `Redis maxmemory-policy is ${policy}: under memory pressure Redis may drop live rendezvous (failed logins) and capacity counters; set maxmemory-policy noeviction. The books are rebuilt from the live set every interval meanwhile`,
          )
        }
      })
    })
    this.#firstConnection = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, FIRST_CONNECTION_WAIT_MS)
      ;(timer as { unref?: () => void }).unref?.()
      this.#client.once('ready', () => {
        this.#connectedOnce = true
        clearTimeout(timer)
        resolve()
      })
    })

    // The subscriber may queue its SUBSCRIBE until connected, and never times out: it only listens.
    // It subscribes itself on every connection rather than let the client do it: the client says
    // `ready` before its own SUBSCRIBE is confirmed, and a waiter that looked again at `ready` could
    // miss a write published in between.
    const cluster = target.kind === 'cluster'
    this.#subscriber = open({
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      enableAutoPipelining: false,
      autoResubscribe: false,
      // On a cluster, each group's channel is listened to on its own shard (SSUBSCRIBE).
      shardedSubscribers: cluster,
    })
    const channels = this.#layout.groups.map((group) => group.channel)
    this.#subscriber.on('error', (error: Error) => report('error', `redis subscriber: ${error.message}`))
    this.#subscriber.on(cluster ? 'smessage' : 'message', (_channel: string, message: string) => this.#onMessage(message))
    // A shard's subscriber lost or back (a failover): what it carried may have been missed.
    this.#subscriber.on('+subscriber', () => {
      for (const id of this.#subscriptions.ids()) this.#subscriptions.notify(id, 'updated')
    })
    // Connection lost: every waiter looks again now. If Redis itself is gone the reads fail and the
    // waiters are answered (503) at once instead of at their deadline.
    this.#subscriber.on('close', () => {
      this.#subscribed = false
      for (const id of this.#subscriptions.ids()) this.#subscriptions.notify(id, 'updated')
    })
    this.#subscriber.on('ready', () => {
      // SSUBSCRIBE takes channels of one slot at a time: one call per group.
      ;(cluster ? Promise.all(channels.map((channel) => (this.#subscriber as Cluster).ssubscribe(channel))) : this.#subscriber.subscribe(...channels)).then(
        () => {
          this.#subscribed = true
          // After an outage, any change may have been missed: now that nothing more can be, every
          // waiter looks again.
          if (this.#subscriberWasReady) {
            report('reconnected', 'redis subscriber')
            for (const id of this.#subscriptions.ids()) this.#subscriptions.notify(id, 'updated')
          }
          this.#subscriberWasReady = true
        },
        // The connection broke again: the next `ready` subscribes again.
        () => {},
      )
    })

    this.#reclaimTimer = setInterval(() => {
      if (this.available()) this.stats().catch(() => {})
    }, options.reclaimIntervalMs ?? 1000)
    ;(this.#reclaimTimer as { unref?: () => void }).unref?.()

    const reconcileIntervalMs = options.reconcileIntervalMs ?? 30_000
    this.#reconcileTimer = setInterval(() => {
      if (!this.available() || this.#evictionPolicy === 'noeviction' || this.#evictionPolicy === null) return
      for (const group of this.#layout.groups) {
        run(this.#client, RECONCILE, {
          books: group.books,
          lock: group.reconcileLock,
          recordPrefix: group.recordPrefix,
          lockMs: Math.max(1, reconcileIntervalMs - 100),
        })
          .then((reply) => {
            if (reply.outcome !== 'done') return
            this.#countExpired(reply.reclaimed)
            if (reply.dropped !== 0 || reply.bytesBefore !== reply.bytesAfter) {
              report(
                'warning',
                `Redis evicted keys: rebuilt the books from the live set (${reply.dropped} rendezvous gone, payload bytes counted ${reply.bytesBefore} -> ${reply.bytesAfter})`,
              )
            }
          })
          .catch(() => {})
      }
    }, reconcileIntervalMs)
    ;(this.#reconcileTimer as { unref?: () => void }).unref?.()

    const healthTimeoutMs = options.healthTimeoutMs ?? 2000
    let checking = false
    this.#healthTimer = setInterval(() => {
      if (checking || this.#client.status !== 'ready') return
      checking = true
      const hung = setTimeout(() => {
        report('error', `redis: no answer to PING within ${healthTimeoutMs} ms; reconnecting`)
        this.#client.disconnect(true)
        if (this.#writer !== this.#client) this.#writer.disconnect(true)
      }, healthTimeoutMs)
      this.#client
        .ping()
        .then(
          () => clearTimeout(hung),
          () => clearTimeout(hung),
        )
        .finally(() => {
          checking = false
        })
    }, options.healthIntervalMs ?? HEALTH_INTERVAL_MS)
    ;(this.#healthTimer as { unref?: () => void }).unref?.()
  }

  /**
   * Creates in the group a fresh id names; a group without room sends the create on to another
   * (with an id of that group), so creation is refused only when no group has room for it.
   */
  async create(write: Write): Promise<CreateResult> {
    const etag = this.#etags.next()
    const full = new Set<number>()
    let retryAfterMs = Number.POSITIVE_INFINITY
    for (;;) {
      const id = this.#newIdOutside(full)
      const group = this.#layout.groupOf(id)
      const reply = await this.#write(() =>
        run(
          this.#writer,
          CREATE,
          {
            keys: this.#layout.keys(id),
            id,
            payload: asBuffer(write.payload),
            contentType: write.contentType,
            etag,
            ttlMs: this.#limits.ttlMs,
            maxSessions: group.maxSessions,
            maxTotalBytes: group.maxTotalBytes,
          },
          true,
        ),
      )
      this.#countExpired(reply.reclaimed)
      // 128 random bits do not collide in practice; the loop makes it a certainty, not a hope.
      if (reply.outcome === 'collision') continue
      if (reply.outcome === 'full') {
        full.add(group.index)
        retryAfterMs = Math.min(retryAfterMs, reply.retryAfterMs)
        if (full.size < this.#layout.groups.length) continue
        return { ok: false, reason: 'full', retryAfterMs: Math.max(MIN_RETRY_AFTER_MS, retryAfterMs) }
      }
      const rendezvous: Rendezvous = {
        id,
        payload: write.payload,
        contentType: write.contentType,
        etag,
        previousEtag: null,
        lastModified: reply.now,
        expiresAt: reply.expiresAt,
      }
      return { ok: true, rendezvous }
    }
  }

  /** A fresh id whose group is not among `excluded` (one group: any fresh id). */
  #newIdOutside(excluded: ReadonlySet<number>): string {
    for (;;) {
      const id = newRendezvousId()
      if (!excluded.has(this.#layout.groupOf(id).index)) return id
    }
  }

  async get(id: string): Promise<Rendezvous | null> {
    const fields = await this.#call(() => this.#client.hmgetBuffer(this.#layout.record(id), ...RECORD_FIELDS))
    return decodeRecord(id, fields)
  }

  async exists(id: string): Promise<boolean> {
    return (await this.#call(() => this.#client.exists(this.#layout.record(id)))) === 1
  }

  async update(id: string, write: ConditionalWrite): Promise<UpdateResult> {
    const { reply, etag } = await this.#runUpdate(id, write, '')
    switch (reply.outcome) {
      case 'ok':
        return { ok: true, rendezvous: this.#applied(id, write, etag, reply), retried: false }
      case 'retried':
        return { ok: true, rendezvous: reply.current, retried: true }
      case 'mismatch':
        return { ok: false, reason: 'etag_mismatch', current: reply.current }
      case 'full':
        return { ok: false, reason: 'full', current: reply.current!, retryAfterMs: Math.max(MIN_RETRY_AFTER_MS, reply.retryAfterMs) }
      default:
        return { ok: false, reason: 'not_found' }
    }
  }

  async updateWithTransactionId(id: string, transactionId: string, write: ConditionalWrite): Promise<TransactionResult> {
    const { reply, etag } = await this.#runUpdate(id, write, transactionId)
    switch (reply.outcome) {
      case 'ok':
        this.#applied(id, write, etag, reply)
        return { kind: 'answered', answer: { kind: 'applied', etag }, replayed: false }
      case 'retried':
        return { kind: 'answered', answer: { kind: 'applied', etag: reply.current.etag }, replayed: false }
      case 'mismatch':
        return { kind: 'answered', answer: { kind: 'conflict' }, replayed: false }
      case 'replay':
        return { kind: 'answered', answer: reply.answer, replayed: true }
      case 'full':
        return { kind: 'full', retryAfterMs: Math.max(MIN_RETRY_AFTER_MS, reply.retryAfterMs) }
      case 'exhausted':
        return { kind: 'exhausted' }
      default:
        return { kind: 'not_found' }
    }
  }

  async delete(id: string): Promise<boolean> {
    const deleted = await this.#write(() =>
      run(this.#writer, DELETE, {
        keys: this.#layout.keys(id),
        id,
        publish: this.#layout.publish,
        channel: this.#layout.groupOf(id).channel,
        change: changeMessage(this.#instance, 'deleted', id),
      }),
    )
    if (deleted) this.#subscriptions.notify(id, 'deleted')
    return deleted
  }

  subscribe(id: string, listener: ChangeListener): Unsubscribe {
    return this.#subscriptions.subscribe(id, listener)
  }

  async stats(): Promise<StoreStats> {
    const counted = await this.#call(() => Promise.all(this.#layout.groups.map((group: Group) => run(this.#client, STATS, group.books))))
    let sessions = 0
    let payloadBytes = 0
    for (const group of counted) {
      sessions += group.sessions
      payloadBytes += group.payloadBytes
      this.#countExpired(group.reclaimed)
    }
    return { sessions, payloadBytes, subscribers: this.#subscriptions.count }
  }

  available(): boolean {
    return this.#client.status === 'ready' && this.#writer.status === 'ready' && this.#subscribed
  }

  evictionPolicy(): string | null {
    return this.#evictionPolicy
  }

  readonly takeSharedToken = async (name: string, key: string, capacity: number, refillPerSecond: number): Promise<SharedTokenResult> => {
    return this.#call(() => run(this.#client, TAKE_TOKEN, { key: `${this.#prefix}rl:${name}:${key}`, capacity, refillPerMs: refillPerSecond / 1000 }))
  }

  expiries(): ExpiryCounts {
    return { ...this.#expired }
  }

  /** Adds the expired ids a script reclaimed on the way. */
  #countExpired(reclaimed: Reclaimed): void {
    this.#expired.unused += reclaimed.unused
    this.#expired.used += reclaimed.used
  }

  /** `CONFIG GET`, or `INFO memory` where a managed Redis refuses CONFIG; `unknown` when both are refused. */
  async #readEvictionPolicy(): Promise<string> {
    try {
      const [, policy] = (await this.#client.config('GET', 'maxmemory-policy')) as string[]
      if (policy) return policy
    } catch {
      // refused: try INFO
    }
    try {
      const info = await this.#client.info('memory')
      return /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? 'unknown'
    } catch {
      return 'unknown'
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#reclaimTimer)
    clearInterval(this.#healthTimer)
    clearInterval(this.#reconcileTimer)
    for (const watch of this.#expiryWatches.values()) clearTimeout(watch.timer)
    this.#expiryWatches.clear()
    this.#subscriptions.clear()
    this.#client.disconnect()
    if (this.#writer !== this.#client) this.#writer.disconnect()
    this.#subscriber.disconnect()
  }

  // --- Internal helpers ---

  /** Runs the update script with a fresh ETag, which an applied write leaves current. */
  async #runUpdate(id: string, write: ConditionalWrite, transactionId: string): Promise<{ reply: UpdateReply; etag: string }> {
    const { ifMatch } = write
    const etag = this.#etags.next()
    const group = this.#layout.groupOf(id)
    const decode = await this.#write(() =>
      run(
        this.#writer,
        UPDATE,
        {
          keys: this.#layout.keys(id),
          id,
          payload: asBuffer(write.payload),
          contentType: write.contentType,
          etag,
          maxTotalBytes: group.maxTotalBytes,
          transactionId,
          transactionCost: transactionId === '' ? 0 : transactionCost(transactionId),
          maxTransactions: MAX_TRANSACTIONS_PER_RENDEZVOUS,
          publish: this.#layout.publish,
          channel: group.channel,
          change: changeMessage(this.#instance, 'updated', id),
          ifMatch: ifMatch.kind === 'any' ? ifMatch : { kind: 'tags', tags: ifMatch.tags.map((tag) => tag.opaque) },
        },
        true,
      ),
    )
    return { reply: decode(id), etag }
  }

  /** The record an applied update left, after telling local listeners. */
  #applied(id: string, write: ConditionalWrite, etag: string, reply: Extract<UpdateReply, { outcome: 'ok' }>): Rendezvous {
    const rendezvous: Rendezvous = {
      id,
      payload: write.payload,
      contentType: write.contentType,
      etag,
      previousEtag: reply.previousEtag,
      lastModified: reply.now,
      expiresAt: reply.expiresAt,
    }
    this.#subscriptions.notify(id, 'updated', rendezvous)
    return rendezvous
  }

  /**
   * Calls `operation`, turning any failure to reach Redis into `StoreUnavailableError`. Until the
   * first connection is up, a call waits for it (at most the connect timeout); after that, an
   * outage fails calls at once.
   */
  async #call<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError('the Redis store is closed')
    if (!this.#connectedOnce) await this.#firstConnection
    try {
      return await operation()
    } catch (error) {
      // On a cluster a failed command may mean its slot has a new owner (a failover the periodic
      // refresh has not caught up with): learn the owners now and try once more.
      if (this.#client instanceof Cluster && (await this.#refreshedSlots(this.#client))) {
        try {
          return await operation()
        } catch (again) {
          throw new StoreUnavailableError(`Redis: ${(again as Error).message}`, { cause: again })
        }
      }
      throw new StoreUnavailableError(`Redis: ${(error as Error).message}`, { cause: error })
    }
  }

  /** Asks the cluster who serves which slot; true when it answered within a second. */
  #refreshedSlots(cluster: Cluster): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), SLOT_REFRESH_WAIT_MS)
      cluster.refreshSlotsCache((error) => {
        clearTimeout(timer)
        resolve(!error)
      })
    })
  }

  /**
   * A write script, acknowledged only once `waitReplicas` replicas have it when that is asked for.
   * WAIT goes on the same connection right after the script (the client pipelines both), so it
   * covers this write.
   */
  async #write<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#waitReplicas === 0) return this.#call(operation)
    const [result, reached] = await this.#call(() => Promise.all([operation(), this.#writer.wait(this.#waitReplicas, this.#waitTimeoutMs)]))
    if (reached < this.#waitReplicas) {
      throw new StoreUnavailableError(`Redis: the write reached ${reached} of ${this.#waitReplicas} replicas within ${this.#waitTimeoutMs} ms`)
    }
    return result
  }

  #onMessage(message: string): void {
    const change = parseChangeMessage(message)
    // This process told its own listeners already.
    if (change === null || change.instance === this.#instance) return
    this.#subscriptions.notify(change.id, change.kind)
  }

  /**
   * Tells the id's listeners when it expires. Redis expires the record by itself and says nothing,
   * so a local timer stands for the expiry. It is set from the time Redis says is left (`PTTL`), not
   * from the expiry instant, so that clocks apart between this machine and Redis's cost nothing:
   * one question when the first listener comes, one when the timer fires (and one more each time it
   * finds the record still there, which only a clock step can cause).
   */
  #watchExpiry(id: string): void {
    const watch: ExpiryWatch = { timer: undefined }
    this.#expiryWatches.set(id, watch)
    const check = () => {
      this.#client.pttl(this.#layout.record(id)).then(
        (left) => {
          if (this.#expiryWatches.get(id) !== watch) return
          // -2: no such key (expired, or never there); -1 cannot happen to a record.
          if (left === -2) return this.#subscriptions.notify(id, 'expired')
          if (left < 0) return
          watch.timer = setTimeout(check, left + 1)
          ;(watch.timer as { unref?: () => void }).unref?.()
        },
        // Unreachable: waiters keep their own deadline, and the reconnect makes them look again.
        () => {},
      )
    }
    check()
  }

  #unwatchExpiry(id: string): void {
    clearTimeout(this.#expiryWatches.get(id)?.timer)
    this.#expiryWatches.delete(id)
  }
}

// --- Helpers ---

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * Runs `script` with its codec: the arguments encoded in the order its Lua reads them, the reply
 * decoded into its typed answer. `buffers` asks for the script's Buffer form, which keeps payloads
 * byte-exact in the reply.
 */
async function run<A, R>(client: Client, script: Script<A, R>, args: A, buffers = false): Promise<R> {
  const command = (client as unknown as Record<string, ScriptCommand>)[buffers ? `${script.name}Buffer` : script.name]!
  return script.decode((await command.apply(client, script.encode(args))) as Parameters<typeof script.decode>[0])
}
