/**
 * @module Which Redis a store URL names, as the client library takes it:
 * - `redis://[user:password@]host[:port][/db]`, `rediss://…` for TLS: one Redis;
 * - `redis+sentinel://[[user]:password@]host:port[,host:port…]/<primary name>[/db]`,
 *   `rediss+sentinel://…` for TLS to the sentinels and the data nodes: the primary the sentinels
 *   name, followed through failovers. The password is the data nodes'; the sentinels' own, when
 *   they have one, is a setting of its own;
 * - `redis+cluster://[[user]:password@]host:port[,host:port…]`, `rediss+cluster://…` for TLS: a Redis
 *   Cluster, found from these seed nodes.
 *
 * Schemes are case-insensitive. Parsing is pure: config validates with it, the store connects with
 * it, and neither ever prints a password.
 */

import type { RedisOptions } from 'ioredis'

export type RedisTarget =
  | { readonly kind: 'single'; readonly url: string }
  | {
      readonly kind: 'sentinel'
      readonly sentinels: readonly { readonly host: string; readonly port: number }[]
      readonly name: string
      readonly username: string | undefined
      readonly password: string | undefined
      readonly db: number
      readonly tls: boolean
    }
  | {
      readonly kind: 'cluster'
      readonly nodes: readonly { readonly host: string; readonly port: number }[]
      readonly username: string | undefined
      readonly password: string | undefined
      readonly tls: boolean
    }

const CLUSTER = /^(rediss?)\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/@]+)\/?$/i
const SENTINEL = /^(rediss?)\+sentinel:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/@]+)\/([^/]+)(?:\/(\d+))?\/?$/i

/** The target `url` names; throws an Error saying what is wrong (without the URL's secrets). */
export function parseRedisTarget(url: string): RedisTarget {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase()
  if (scheme === 'redis' || scheme === 'rediss') return { kind: 'single', url: `${scheme}${url.slice(scheme.length)}` }
  if (scheme === 'redis+cluster' || scheme === 'rediss+cluster') {
    const match = CLUSTER.exec(url)
    if (!match) throw new Error('expected redis+cluster://[:password@]host:port[,host:port...]')
    const [, base, user, password, hosts] = match
    return {
      kind: 'cluster',
      nodes: hostList(hosts!, 'seed node'),
      username: user ? decodeURIComponent(user) : undefined,
      password: password !== undefined && password !== '' ? decodeURIComponent(password) : undefined,
      tls: base!.toLowerCase() === 'rediss',
    }
  }
  if (scheme !== 'redis+sentinel' && scheme !== 'rediss+sentinel') throw new Error('expected a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL')
  const match = SENTINEL.exec(url)
  if (!match) throw new Error('expected redis+sentinel://[:password@]host:port[,host:port...]/<primary name>[/<db>]')
  const [, base, user, password, hosts, name, db] = match
  const sentinels = hostList(hosts!, 'sentinel')
  return {
    kind: 'sentinel',
    sentinels,
    name: decodeURIComponent(name!),
    username: user ? decodeURIComponent(user) : undefined,
    password: password !== undefined && password !== '' ? decodeURIComponent(password) : undefined,
    db: db === undefined ? 0 : Number(db),
    tls: base!.toLowerCase() === 'rediss',
  }
}

function hostList(hosts: string, what: string): { host: string; port: number }[] {
  return hosts.split(',').map((entry) => {
    const at = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(entry.trim())
    const port = Number(at?.[2])
    if (!at || port < 1 || port > 65_535) throw new Error(`expected host:port for every ${what}, got ${JSON.stringify(entry.replace(/@.*/, ''))}`)
    return { host: at[1]!.replace(/^\[|\]$/g, ''), port }
  })
}

/** The client's options for a sentinel target. */
export function sentinelOptions(target: Extract<RedisTarget, { kind: 'sentinel' }>, sentinelPassword: string | undefined): RedisOptions {
  return {
    sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: target.name,
    role: 'master',
    db: target.db,
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
    ...(sentinelPassword ? { sentinelPassword } : {}),
    ...(target.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
    // Told by the sentinels when the primary changes, rather than finding out on the next error.
    failoverDetector: true,
    // Every sentinel unreachable: ask again, backing off to once a second, for ever.
    sentinelRetryStrategy: (attempt: number) => Math.min(50 * attempt, 1000),
  }
}
