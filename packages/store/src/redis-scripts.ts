/**
 * @module The Lua scripts the Redis store runs, each with its typed codec beside it: what it takes
 * (`encode`, in KEYS and ARGV order) and what it answers (`decode`). Each operation is one script,
 * so it is atomic on the Redis side: no read-then-write race between instances. Every timestamp
 * comes from Redis's own clock (`TIME`), so all instances agree on creation, last-modified and expiry.
 *
 * Keys (see `redis-layout.ts` for where they live on a cluster):
 * - the record, a hash per rendezvous with the fields of `FIELD`, expiring by itself one millisecond
 *   before its expiry instant, so that Redis answers "gone" from that instant on, as the memory
 *   store does;
 * - `live`: a sorted set of ids by expiry, for counting and reclaiming; the score is the expiry
 *   instant, plus one half once the rendezvous has been written after its creation, so that an
 *   expiry can be counted as used or unused without a key of its own;
 * - `sizes`: a hash of the bytes each id is charged (payload plus remembered transactions);
 * - `bytes`: the sum of `sizes`, kept exact: expired ids are reclaimed from `live` and `sizes`
 *   (and their bytes subtracted) before every capacity check, whatever Redis has already evicted.
 */

import type { Rendezvous, TransactionAnswer } from './types.ts'

/** The fields of a record hash: one name each, used by the Lua text and the decoders alike. */
export const FIELD = {
  payload: 'p',
  contentType: 't',
  etag: 'e',
  /** The ETag the last write replaced ('' after creation). */
  previousEtag: 'v',
  lastModified: 'm',
  expiresAt: 'x',
  /** How many transaction answers are remembered; each is the field `T:<transaction id>`. */
  transactions: 'tn',
} as const

/** The fields a record is read with, in the order every script answers them. */
export const RECORD_FIELDS = [FIELD.payload, FIELD.contentType, FIELD.etag, FIELD.previousEtag, FIELD.lastModified, FIELD.expiresAt] as const
const LUA_RECORD_FIELDS = RECORD_FIELDS.map((name) => `'${name}'`).join(', ')

type Reply = Buffer | number | string | null
type Arg = string | Buffer | number

// --- Change messages: `<instance> <u|d> <id>`, built and read here only ---

export type ChangeKind = 'updated' | 'deleted'

export function changeMessage(instance: string, kind: ChangeKind, id: string): string {
  return `${instance} ${kind === 'deleted' ? 'd' : 'u'} ${id}`
}

export function parseChangeMessage(message: string): { readonly instance: string; readonly kind: ChangeKind; readonly id: string } | null {
  const [instance, kind, id] = message.split(' ')
  if (instance === undefined || id === undefined) return null
  return { instance, kind: kind === 'd' ? 'deleted' : 'updated', id }
}

// --- Reply decoding, in one place ---

function text(reply: Reply | undefined): string {
  if (reply === null || reply === undefined) return ''
  return typeof reply === 'string' ? reply : typeof reply === 'number' ? String(reply) : reply.toString('utf8')
}

const integer = (reply: Reply | undefined): number => (typeof reply === 'number' ? reply : Number(text(reply)))

/** A record from its fields in `RECORD_FIELDS` order, or null when Redis had none. */
export function decodeRecord(id: string, fields: readonly Reply[]): Rendezvous | null {
  const [payload, contentType, etag, previous, lastModified, expiresAt] = fields
  if (!payload || !etag || !(payload instanceof Buffer)) return null
  const previousEtag = text(previous)
  return {
    id,
    // A copy into a plain Uint8Array: the reply may be a view into the client's read buffer, and a
    // record held for a whole long-poll would keep all of that buffer alive.
    payload: new Uint8Array(payload),
    contentType: text(contentType),
    etag: text(etag),
    previousEtag: previousEtag === '' ? null : previousEtag,
    lastModified: integer(lastModified),
    expiresAt: integer(expiresAt),
  }
}

/** Expired ids a script reclaimed on the way, as it counted them. */
export interface Reclaimed {
  readonly unused: number
  readonly used: number
}

const reclaimedFrom = (unused: Reply | undefined, used: Reply | undefined): Reclaimed => ({ unused: integer(unused), used: integer(used) })

/** A script as the client defines it, and its codec. */
export interface Script<A, R> {
  readonly name: string
  readonly lua: string
  readonly keys: number
  encode(args: A): Arg[]
  decode(reply: Reply[] | Reply): R
}

/** Shared helpers, prepended to the scripts that need them. */
const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(n) return string.format('%.0f', n) end
-- Reclaims expired ids from the books; returns how many were never written after creation, and how many were.
local function reclaim(live, sizes, bytes, now)
  local unused, used = 0, 0
  while true do
    local scored = redis.call('ZRANGEBYSCORE', live, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 500)
    if #scored == 0 then return unused, used end
    local batch = {}
    for i = 1, #scored, 2 do
      batch[#batch + 1] = scored[i]
      local score = tonumber(scored[i + 1])
      if score == math.floor(score) then unused = unused + 1 else used = used + 1 end
    end
    local charged = redis.call('HMGET', sizes, unpack(batch))
    local total = 0
    for i = 1, #charged do total = total + (tonumber(charged[i]) or 0) end
    redis.call('HDEL', sizes, unpack(batch))
    redis.call('ZREM', live, unpack(batch))
    if total ~= 0 then redis.call('DECRBY', bytes, total) end
  end
end
local function retry_after(live, now, ttl)
  local oldest = redis.call('ZRANGE', live, 0, 0, 'WITHSCORES')
  if #oldest == 0 then return int(ttl) end
  return int(math.max(0, tonumber(oldest[2]) - now))
end
`

/** The record and the books it is charged to: the keys of every write script. */
export type WriteKeys = readonly [record: string, live: string, sizes: string, bytes: string]

// --- Create ---

export interface CreateArgs {
  readonly keys: WriteKeys
  readonly id: string
  readonly payload: Buffer
  readonly contentType: string
  readonly etag: string
  readonly ttlMs: number
  readonly maxSessions: number
  readonly maxTotalBytes: number
}

export type CreateReply =
  | { readonly outcome: 'ok'; readonly now: number; readonly expiresAt: number; readonly reclaimed: Reclaimed }
  | { readonly outcome: 'full'; readonly retryAfterMs: number; readonly reclaimed: Reclaimed }
  | { readonly outcome: 'collision'; readonly reclaimed: Reclaimed }

export const CREATE: Script<CreateArgs, CreateReply> = {
  name: 'rzCreate',
  keys: 4,
  lua: `${PRELUDE}
local id, payload, content_type, etag = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, max_sessions, max_bytes = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_ms()
local unused, used = reclaim(KEYS[2], KEYS[3], KEYS[4], now)
if redis.call('EXISTS', KEYS[1]) == 1 then return {'collision', unused, used} end
local size = #payload
local held = tonumber(redis.call('GET', KEYS[4]) or '0')
if redis.call('ZCARD', KEYS[2]) >= max_sessions or held + size > max_bytes then
  return {'full', retry_after(KEYS[2], now, ttl), unused, used}
end
local expires = now + ttl
redis.call('HSET', KEYS[1], '${FIELD.payload}', payload, '${FIELD.contentType}', content_type, '${FIELD.etag}', etag, '${FIELD.previousEtag}', '', '${FIELD.lastModified}', int(now), '${FIELD.expiresAt}', int(expires))
redis.call('PEXPIREAT', KEYS[1], int(expires - 1))
redis.call('ZADD', KEYS[2], int(expires), id)
redis.call('HSET', KEYS[3], id, size)
redis.call('INCRBY', KEYS[4], size)
return {'ok', int(now), int(expires), unused, used}
`,
  encode: (a) => [...a.keys, a.id, a.payload, a.contentType, a.etag, a.ttlMs, a.maxSessions, a.maxTotalBytes],
  decode(reply) {
    const [outcome, first, second, third, fourth] = reply as Reply[]
    switch (text(outcome)) {
      case 'ok':
        return { outcome: 'ok', now: integer(first), expiresAt: integer(second), reclaimed: reclaimedFrom(third, fourth) }
      case 'full':
        return { outcome: 'full', retryAfterMs: integer(first), reclaimed: reclaimedFrom(second, third) }
      default:
        return { outcome: 'collision', reclaimed: reclaimedFrom(first, second) }
    }
  },
}

// --- Update ---

export interface UpdateArgs {
  readonly keys: WriteKeys
  readonly id: string
  readonly payload: Buffer
  readonly contentType: string
  readonly etag: string
  readonly maxTotalBytes: number
  /** '' for a write outside a transaction. */
  readonly transactionId: string
  readonly transactionCost: number
  readonly maxTransactions: number
  readonly publish: 'PUBLISH' | 'SPUBLISH'
  readonly channel: string
  /** What the script publishes once the write is applied (`changeMessage`). */
  readonly change: string
  /** `any` (If-Match: *), or the opaque tags a current ETag must be among. */
  readonly ifMatch: { readonly kind: 'any' } | { readonly kind: 'tags'; readonly tags: readonly string[] }
}

export type UpdateReply =
  /** Applied: the instant it was, the ETag it replaced, the (unchanged) expiry. */
  | { readonly outcome: 'ok'; readonly now: number; readonly previousEtag: string; readonly expiresAt: number }
  /** A repeat of the last write: nothing changed. */
  | { readonly outcome: 'retried'; readonly current: Rendezvous }
  | { readonly outcome: 'mismatch'; readonly current: Rendezvous }
  /** No room; `current` is absent for a transaction. */
  | { readonly outcome: 'full'; readonly retryAfterMs: number; readonly current: Rendezvous | null }
  /** The transaction id was seen: its answer again. */
  | { readonly outcome: 'replay'; readonly answer: TransactionAnswer }
  | { readonly outcome: 'exhausted' }
  | { readonly outcome: 'not_found' }

export const UPDATE: Script<UpdateArgs, (id: string) => UpdateReply> = {
  name: 'rzUpdate',
  keys: 4,
  lua: `${PRELUDE}
local id, payload, content_type, etag = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_total, txn, txn_cost, max_txn = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local publish, channel, change, condition = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local rec = redis.call('HMGET', KEYS[1], ${LUA_RECORD_FIELDS}, '${FIELD.transactions}')
local r_payload, r_type, r_etag, r_previous, r_modified, r_expires, r_txns = rec[1], rec[2], rec[3], rec[4], rec[5], rec[6], rec[7]
if not r_etag then return {'not_found'} end
local now = now_ms()
local txn_field = 'T:' .. txn
local cost = 0
if txn ~= '' then
  local remembered = redis.call('HGET', KEYS[1], txn_field)
  if remembered then return {'replay', remembered} end
  if (tonumber(r_txns) or 0) >= max_txn then return {'exhausted'} end
  cost = txn_cost
end
local matches = condition == 'any'
local names_previous = false
for i = 13, #ARGV do
  if ARGV[i] == r_etag then matches = true end
  if r_previous ~= '' and ARGV[i] == r_previous then names_previous = true end
end
local held = tonumber(redis.call('GET', KEYS[4]) or '0')
local function remember(answer)
  if txn == '' then return end
  redis.call('HSET', KEYS[1], txn_field, answer)
  redis.call('HINCRBY', KEYS[1], '${FIELD.transactions}', 1)
  redis.call('HINCRBY', KEYS[3], id, cost)
  redis.call('INCRBY', KEYS[4], cost)
end
if not matches then
  if txn ~= '' and held + cost > max_total then return {'full', retry_after(KEYS[2], now, 0)} end
  local outcome = 'mismatch'
  if names_previous and r_type == content_type and r_payload == payload then outcome = 'retried' end
  remember(outcome == 'retried' and ('a' .. r_etag) or 'c')
  return {outcome, r_payload, r_type, r_etag, r_previous, r_modified, r_expires}
end
local growth = #payload - #r_payload
if growth + cost > 0 and held + growth + cost > max_total then
  return {'full', retry_after(KEYS[2], now, 0), r_payload, r_type, r_etag, r_previous, r_modified, r_expires}
end
redis.call('HSET', KEYS[1], '${FIELD.payload}', payload, '${FIELD.contentType}', content_type, '${FIELD.etag}', etag, '${FIELD.previousEtag}', r_etag, '${FIELD.lastModified}', int(now))
-- The first write after creation marks the id used, in its expiry score's half.
if r_previous == '' then redis.call('ZADD', KEYS[2], 'XX', r_expires .. '.5', id) end
if growth ~= 0 then
  redis.call('HINCRBY', KEYS[3], id, growth)
  redis.call('INCRBY', KEYS[4], growth)
end
remember('a' .. etag)
redis.call(publish, channel, change)
return {'ok', int(now), r_etag, r_expires}
`,
  encode: (a) => [
    ...a.keys,
    a.id,
    a.payload,
    a.contentType,
    a.etag,
    a.maxTotalBytes,
    a.transactionId,
    a.transactionCost,
    a.maxTransactions,
    a.publish,
    a.channel,
    a.change,
    a.ifMatch.kind,
    ...(a.ifMatch.kind === 'tags' ? a.ifMatch.tags : []),
  ],
  decode(reply) {
    const fields = reply as Reply[]
    return (id) => {
      switch (text(fields[0])) {
        case 'ok':
          return { outcome: 'ok', now: integer(fields[1]), previousEtag: text(fields[2]), expiresAt: integer(fields[3]) }
        case 'retried':
          return { outcome: 'retried', current: decodeRecord(id, fields.slice(1))! }
        case 'mismatch':
          return { outcome: 'mismatch', current: decodeRecord(id, fields.slice(1))! }
        case 'full':
          return { outcome: 'full', retryAfterMs: integer(fields[1]), current: fields.length > 2 ? decodeRecord(id, fields.slice(2)) : null }
        case 'replay': {
          const remembered = text(fields[1])
          return { outcome: 'replay', answer: remembered.startsWith('a') ? { kind: 'applied', etag: remembered.slice(1) } : { kind: 'conflict' } }
        }
        case 'exhausted':
          return { outcome: 'exhausted' }
        default:
          return { outcome: 'not_found' }
      }
    }
  },
}

// --- Delete ---

export interface DeleteArgs {
  readonly keys: WriteKeys
  readonly id: string
  readonly publish: 'PUBLISH' | 'SPUBLISH'
  readonly channel: string
  readonly change: string
}

export const DELETE: Script<DeleteArgs, boolean> = {
  name: 'rzDelete',
  keys: 4,
  lua: `
local id, publish, channel, change = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], id)
local size = tonumber(redis.call('HGET', KEYS[3], id) or '0')
redis.call('HDEL', KEYS[3], id)
if size ~= 0 then redis.call('DECRBY', KEYS[4], size) end
redis.call(publish, channel, change)
return 1
`,
  encode: (a) => [...a.keys, a.id, a.publish, a.channel, a.change],
  decode: (reply) => integer(reply as Reply) === 1,
}

// --- Stats ---

export type Books = readonly [live: string, sizes: string, bytes: string]

export const STATS: Script<Books, { readonly sessions: number; readonly payloadBytes: number; readonly reclaimed: Reclaimed }> = {
  name: 'rzStats',
  keys: 3,
  lua: `${PRELUDE}
local unused, used = reclaim(KEYS[1], KEYS[2], KEYS[3], now_ms())
return {redis.call('ZCARD', KEYS[1]), tonumber(redis.call('GET', KEYS[3]) or '0'), unused, used}
`,
  encode: (books) => [...books],
  decode(reply) {
    const [sessions, bytes, unused, used] = reply as Reply[]
    return { sessions: integer(sessions), payloadBytes: integer(bytes), reclaimed: reclaimedFrom(unused, used) }
  },
}

// --- Reconcile ---

export interface ReconcileArgs {
  readonly books: Books
  readonly lock: string
  readonly recordPrefix: string
  readonly lockMs: number
}

export type ReconcileReply =
  | { readonly outcome: 'locked' }
  | { readonly outcome: 'done'; readonly dropped: number; readonly bytesBefore: number; readonly bytesAfter: number; readonly reclaimed: Reclaimed }

/**
 * Only where Redis may evict keys (any `maxmemory-policy` but `noeviction`; without eviction the
 * scripts above keep the books exact by themselves): rebuilds the books from the live set. An id
 * whose record is gone leaves `live` and `sizes`; a live id missing from `sizes` is charged its
 * payload again; an entry of `sizes` with no live id goes; `bytes` becomes the sum. One instance does
 * it per lock period.
 *
 * It touches record keys it was not given, which one Redis allows and a cluster allows within the
 * group's slot; it costs one EXISTS per live id, about 50 ms of Redis time at 100,000 live.
 */
export const RECONCILE: Script<ReconcileArgs, ReconcileReply> = {
  name: 'rzReconcile',
  keys: 4,
  lua: `${PRELUDE}
if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', tonumber(ARGV[2])) then return {'locked'} end
local unused, used = reclaim(KEYS[1], KEYS[2], KEYS[3], now_ms())
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local live, dropped, total = {}, 0, 0
for i = 1, #ids do
  local id = ids[i]
  local record = ARGV[1] .. id
  if redis.call('EXISTS', record) == 0 then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    dropped = dropped + 1
  else
    live[id] = true
    local charged = tonumber(redis.call('HGET', KEYS[2], id) or '')
    if not charged then
      charged = redis.call('HSTRLEN', record, '${FIELD.payload}')
      redis.call('HSET', KEYS[2], id, charged)
    end
    total = total + charged
  end
end
if redis.call('HLEN', KEYS[2]) > #ids - dropped then
  local names = redis.call('HKEYS', KEYS[2])
  for i = 1, #names do
    if not live[names[i]] then redis.call('HDEL', KEYS[2], names[i]) end
  end
end
local before = tonumber(redis.call('GET', KEYS[3]) or '0')
if before ~= total then redis.call('SET', KEYS[3], int(total)) end
return {'done', dropped, int(before), int(total), unused, used}
`,
  encode: (a) => [...a.books, a.lock, a.recordPrefix, a.lockMs],
  decode(reply) {
    const [outcome, dropped, before, after, unused, used] = reply as Reply[]
    if (text(outcome) !== 'done') return { outcome: 'locked' }
    return { outcome: 'done', dropped: integer(dropped), bytesBefore: integer(before), bytesAfter: integer(after), reclaimed: reclaimedFrom(unused, used) }
  },
}

// --- Shared token buckets ---

export interface TakeTokenArgs {
  readonly key: string
  readonly capacity: number
  readonly refillPerMs: number
}

/**
 * A token bucket shared by every instance: takes one token, or answers how long until one is there.
 * The bucket expires once it would be full again, so idle clients cost nothing.
 */
export const TAKE_TOKEN: Script<TakeTokenArgs, { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number }> = {
  name: 'rzTakeToken',
  keys: 1,
  lua: `${PRELUDE}
local capacity, refill = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_ms()
local bucket = redis.call('HMGET', KEYS[1], 'n', 't')
local tokens = tonumber(bucket[1])
if tokens == nil then
  tokens = capacity
else
  tokens = math.min(capacity, tokens + (now - tonumber(bucket[2])) * refill)
end
local allowed = tokens >= 1
if allowed then tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'n', tostring(tokens), 't', int(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / refill) + 1000)
if allowed then return {1} end
return {0, math.ceil((1 - tokens) / refill)}
`,
  encode: (a) => [a.key, a.capacity, a.refillPerMs],
  decode(reply) {
    const [allowed, retryAfterMs] = reply as Reply[]
    return integer(allowed) === 1 ? { ok: true } : { ok: false, retryAfterMs: integer(retryAfterMs ?? 1000) }
  },
}

/** Every script, for the client to define. */
export const SCRIPTS = [CREATE, UPDATE, DELETE, STATS, RECONCILE, TAKE_TOKEN] as const
