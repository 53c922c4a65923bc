/**
 * @module The Lua scripts the Redis store runs. Each operation is one script, so it is atomic on
 * the Redis side: no read-then-write race between instances. Every timestamp comes from Redis's own
 * clock (`TIME`), so all instances agree on creation, last-modified and expiry instants.
 *
 * Keys, under the configured prefix:
 * - `r:<id>`: a hash per rendezvous (`p` payload, `t` content type, `e` ETag, `v` the ETag the
 *   last write replaced, `m` last modified, `x` expiry, `tn` and `T:<txnId>` remembered
 *   transactions), expiring by itself one millisecond before `x`, so that Redis answers "gone" from
 *   the instant `x` on, as the memory store does;
 * - `live`: a sorted set of ids by expiry, for counting and reclaiming; the score is the expiry
 *   instant, plus one half once the rendezvous has been written after its creation, so that an
 *   expiry can be counted as used or unused without a key of its own;
 * - `sizes`: a hash of the bytes each id is charged (payload plus remembered transactions);
 * - `bytes`: the sum of `sizes`, kept exact: expired ids are reclaimed from `live` and `sizes`
 *   (and their bytes subtracted) before every capacity check, whatever Redis has already evicted.
 */

/** Shared helpers, prepended to every script. */
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

/**
 * KEYS: record, live, sizes, bytes. ARGV: id, payload, content type, ETag, ttl ms, max sessions,
 * max total bytes. Returns `{'ok', now, expiresAt, unused, used}`, `{'full', retryAfterMs, unused,
 * used}` or `{'collision', unused, used}`, where `unused` and `used` count the expired ids it
 * reclaimed.
 */
export const CREATE = `${PRELUDE}
local now = now_ms()
local unused, used = reclaim(KEYS[2], KEYS[3], KEYS[4], now)
if redis.call('EXISTS', KEYS[1]) == 1 then return {'collision', unused, used} end
local size = #ARGV[2]
local held = tonumber(redis.call('GET', KEYS[4]) or '0')
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[6]) or held + size > tonumber(ARGV[7]) then
  return {'full', retry_after(KEYS[2], now, tonumber(ARGV[5])), unused, used}
end
local expires = now + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'p', ARGV[2], 't', ARGV[3], 'e', ARGV[4], 'v', '', 'm', int(now), 'x', int(expires))
redis.call('PEXPIREAT', KEYS[1], int(expires - 1))
redis.call('ZADD', KEYS[2], int(expires), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], size)
redis.call('INCRBY', KEYS[4], size)
return {'ok', int(now), int(expires), unused, used}
`

/**
 * KEYS: record, live, sizes, bytes. ARGV: id, payload, content type, new ETag, max total bytes,
 * transaction id ('' for none), transaction cost, max transactions, 'any' or 'tags', then the tags.
 * ARGV after those: the publish command (PUBLISH, or SPUBLISH on a cluster), change channel, instance id.
 *
 * Returns one of:
 * - `{'ok', now, previous, expiresAt}`: applied;
 * - `{'retried', p, t, e, v, m, x}`: a repeat of the last write, nothing changed;
 * - `{'mismatch', p, t, e, v, m, x}`: the condition failed;
 * - `{'full', retryAfterMs, p, t, e, v, m, x}`: no room (record fields absent for a transaction);
 * - `{'replay', answer}`: the transaction id was seen; `answer` is `a<etag>` or `c`;
 * - `{'exhausted'}`: the rendezvous remembers as many transactions as it may;
 * - `{'not_found'}`.
 */
export const UPDATE = `${PRELUDE}
local publish, channel, instance = ARGV[#ARGV - 2], ARGV[#ARGV - 1], ARGV[#ARGV]
local rec = redis.call('HMGET', KEYS[1], 'e', 'v', 't', 'p', 'm', 'x', 'tn')
local current = rec[1]
if not current then return {'not_found'} end
local now = now_ms()
local txn = ARGV[6]
local txn_field = 'T:' .. txn
local cost = 0
if txn ~= '' then
  local remembered = redis.call('HGET', KEYS[1], txn_field)
  if remembered then return {'replay', remembered} end
  if (tonumber(rec[7]) or 0) >= tonumber(ARGV[8]) then return {'exhausted'} end
  cost = tonumber(ARGV[7])
end
local matches = ARGV[9] == 'any'
local names_previous = false
for i = 10, #ARGV - 3 do
  if ARGV[i] == current then matches = true end
  if rec[2] ~= '' and ARGV[i] == rec[2] then names_previous = true end
end
local max_total = tonumber(ARGV[5])
local held = tonumber(redis.call('GET', KEYS[4]) or '0')
local function remember(answer)
  if txn == '' then return end
  redis.call('HSET', KEYS[1], txn_field, answer)
  redis.call('HINCRBY', KEYS[1], 'tn', 1)
  redis.call('HINCRBY', KEYS[3], ARGV[1], cost)
  redis.call('INCRBY', KEYS[4], cost)
end
if not matches then
  if txn ~= '' and held + cost > max_total then return {'full', retry_after(KEYS[2], now, 0)} end
  local outcome = 'mismatch'
  if names_previous and rec[3] == ARGV[3] and rec[4] == ARGV[2] then outcome = 'retried' end
  remember(outcome == 'retried' and ('a' .. current) or 'c')
  return {outcome, rec[4], rec[3], rec[1], rec[2], rec[5], rec[6]}
end
local growth = #ARGV[2] - #rec[4]
if growth + cost > 0 and held + growth + cost > max_total then
  return {'full', retry_after(KEYS[2], now, 0), rec[4], rec[3], rec[1], rec[2], rec[5], rec[6]}
end
redis.call('HSET', KEYS[1], 'p', ARGV[2], 't', ARGV[3], 'e', ARGV[4], 'v', current, 'm', int(now))
-- The first write after creation marks the id used, in its expiry score's half.
if rec[2] == '' then redis.call('ZADD', KEYS[2], 'XX', rec[6] .. '.5', ARGV[1]) end
if growth ~= 0 then
  redis.call('HINCRBY', KEYS[3], ARGV[1], growth)
  redis.call('INCRBY', KEYS[4], growth)
end
remember('a' .. ARGV[4])
redis.call(publish, channel, instance .. ' u ' .. ARGV[1])
return {'ok', int(now), current, rec[6]}
`

/** KEYS: record, live, sizes, bytes. ARGV: id, change channel, instance id, publish command. Returns 1 or 0. */
export const DELETE = `
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
local size = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
redis.call('HDEL', KEYS[3], ARGV[1])
if size ~= 0 then redis.call('DECRBY', KEYS[4], size) end
redis.call(ARGV[4], ARGV[2], ARGV[3] .. ' d ' .. ARGV[1])
return 1
`

/** KEYS: live, sizes, bytes. Reclaims expired ids; returns `{sessions, bytes, unused, used}` (the last two as in CREATE). */
export const STATS = `${PRELUDE}
local unused, used = reclaim(KEYS[1], KEYS[2], KEYS[3], now_ms())
return {redis.call('ZCARD', KEYS[1]), tonumber(redis.call('GET', KEYS[3]) or '0'), unused, used}
`

/**
 * KEYS: live, sizes, bytes, lock. ARGV: record key prefix, lock ms. Only where Redis may evict keys
 * (any `maxmemory-policy` but `noeviction`; without eviction the scripts above keep the books exact
 * by themselves): rebuilds the books from the live set. An id whose record is gone leaves `live`
 * and `sizes`; a live id missing from `sizes` is charged its payload again; an entry of `sizes`
 * with no live id goes; `bytes` becomes the sum. One instance does it per lock period. Returns
 * `{'locked'}` or `{'done', ids dropped, bytes before, bytes after, unused, used}` (the last two
 * as in CREATE).
 *
 * It touches record keys it was not given, which one Redis allows and a cluster would not; it costs
 * one EXISTS per live id, about 50 ms of Redis time at 100,000 live.
 */
export const RECONCILE = `${PRELUDE}
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
      charged = redis.call('HSTRLEN', record, 'p')
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
`

/**
 * KEYS: the bucket (`rl:<limiter>:<client>`). ARGV: capacity, tokens refilled per millisecond. A token
 * bucket shared by every instance: takes one token, or answers how long until one is there. The
 * bucket expires once it would be full again, so idle clients cost nothing. Returns `{1}` or
 * `{0, retryAfterMs}`.
 */
export const TAKE_TOKEN = `${PRELUDE}
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
`
