/**
 * @module Server configuration: every setting, its environment variable, its flag, its default and
 * its validation, in one table. `loadConfig` turns environment plus argv into a frozen, validated
 * `ServerConfig`; it is pure so tests can call it, and only `main.ts` hands it the real process.
 */

import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_MAX_TOTAL_BYTES,
  DEFAULT_MAX_WAITERS,
  DEFAULT_MAX_WAIT_SECONDS,
  DEFAULT_TTL_SECONDS,
} from '@rendezvous/protocol'
import { readFileSync } from 'node:fs'
import { parseRedisTarget } from '@rendezvous/store/redis-target'
import { type AddressRange, parseAddressRange } from './ip-address.ts'

/** Who may set X-Forwarded-* headers: nobody, the nearest N hops, or proxies in these address ranges. */
export type TrustProxy =
  | { readonly kind: 'off' }
  | { readonly kind: 'hops'; readonly hops: number }
  | { readonly kind: 'addresses'; readonly ranges: readonly AddressRange[] }

/** Where rendezvous live: this process's memory, or a Redis (or Valkey) shared by every instance. */
export type StoreSetting = { readonly kind: 'memory' } | { readonly kind: 'redis'; readonly url: string }

/** A token bucket: `requests` at once, refilled at `requests / seconds` per second. */
export type RateLimit = { readonly kind: 'off' } | { readonly kind: 'bucket'; readonly requests: number; readonly seconds: number }

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'off'

/**
 * Who may create rendezvous: anybody, holders of a bearer token listed in a file, or holders of an
 * access token the homeserver at `baseUrl` accepts.
 */
export type CreateAuth = { readonly kind: 'off' } | { readonly kind: 'file'; readonly path: string } | { readonly kind: 'homeserver'; readonly baseUrl: string }

/** The dialects that create rendezvous (docs/protocol.md#matrix-dialects). */
export type CreateDialect = 'seed' | 'msc3886' | 'msc4108' | 'msc4388'

/** The older dialects whose clients send no token, which an operator may leave open under create auth. */
const OPENABLE_DIALECTS = ['seed', 'msc3886', 'msc4108'] as const satisfies readonly CreateDialect[]
export type OpenableDialect = (typeof OPENABLE_DIALECTS)[number]

/** Where `/metrics` is served: a listener of its own, never the public one. */
export type MetricsListen = { readonly kind: 'off' } | { readonly kind: 'listen'; readonly host: string; readonly port: number }

export interface ServerConfig {
  readonly port: number
  readonly host: string
  readonly metricsListen: MetricsListen
  /** Path prefix of the rendezvous endpoints, always starting and ending with `/`. */
  readonly prefix: string
  /** Origin (and any path a proxy adds) that clients see, without trailing slash; null = from the request. */
  readonly publicBaseUrl: string | null
  readonly ttlSeconds: number
  readonly maxBytes: number
  readonly maxSessions: number
  readonly maxTotalBytes: number
  readonly maxWaitSeconds: number
  readonly maxWaiters: number
  readonly trustProxy: TrustProxy
  /** Budget per client address for every request except creation (and preflights, health, metrics). */
  readonly rateLimit: RateLimit
  /** Whether rate-limit buckets are this instance's or shared by all through the store. */
  readonly rateLimitScope: 'instance' | 'global'
  /** Budget per client address for creating rendezvous. */
  readonly createRateLimit: RateLimit
  /** Longest time a request body may take to arrive. */
  readonly bodyTimeoutSeconds: number
  /** Requests being processed at once, held long-polls not counted (they have their own bound). */
  readonly maxInFlight: number
  /** Requests one client (an IPv4 address or an IPv6 /64) may have processed at once; null = no bound. */
  readonly maxInFlightPerClient: number | null
  readonly logLevel: LogLevel
  /** How long, after SIGTERM, the server keeps serving (with `Connection: close`) before it stops listening. */
  readonly shutdownDrainSeconds: number
  /** Longest time shutdown then waits for requests in flight before exiting anyway. */
  readonly shutdownGraceSeconds: number
  readonly createAuth: CreateAuth
  /** Dialects whose create path stays open to token-less clients when create auth is on. */
  readonly createAuthOpen: ReadonlySet<OpenableDialect>
  /** Tokens the homeserver has not been asked about yet, per client: each costs it a whoami. */
  readonly createAuthCheckRateLimit: RateLimit
  readonly store: StoreSetting
  /** The sentinels' password (redis+sentinel:// only); null = none. */
  readonly redisSentinelPassword: string | null
  /** Replicas a write must reach before it is acknowledged (WAIT); 0 = none. */
  readonly redisWaitReplicas: number
  readonly redisWaitTimeoutMs: number
  /** Groups the capacity books are split into on a cluster. */
  readonly redisClusterGroups: number
  /** How often each process PINGs Redis and reclaims expired ids. */
  readonly redisHousekeepingSeconds: number
  /** Prefix of every Redis key and channel, so deployments can share one Redis. */
  readonly redisPrefix: string
  /** Server processes sharing the port (more than one only with a shared store). */
  readonly workers: number
  /** Serve the browser demo at /demo. */
  readonly demo: boolean
}

interface Setting<K extends keyof ServerConfig> {
  readonly key: K
  readonly env: string
  readonly flag: string
  /** The default as text, parsed like any other value, and shown in `--help` and the README. */
  readonly default: string
  readonly help: string
  /** Returns the value or throws an Error whose message says what is wrong. */
  readonly parse: (raw: string) => ServerConfig[K]
  /**
   * The value may carry a secret (a password in a URL): it is never printed whole, and it may also
   * be read from a file named by `<env>_FILE` or `<flag>-file`, which keeps it out of `ps` and of
   * the environment (container secrets, systemd credentials).
   */
  readonly secret?: true
}

type AnySetting = { [K in keyof ServerConfig]: Setting<K> }[keyof ServerConfig]

export const SETTINGS: readonly AnySetting[] = [
  { key: 'port', env: 'PORT', flag: '--port', default: '8080', help: 'TCP port to listen on (0 = any free port)', parse: integer(0, 65_535) },
  { key: 'host', env: 'HOST', flag: '--host', default: '0.0.0.0', help: 'address to bind', parse: host },
  {
    key: 'metricsListen',
    env: 'RENDEZVOUS_METRICS_LISTEN',
    flag: '--metrics-listen',
    default: '127.0.0.1:9108',
    help: 'where /metrics is served, host:port ([::1]:9108 for IPv6), or off; never on the public port. With workers, one scrape answers for all of them',
    parse: metricsListen,
  },
  { key: 'prefix', env: 'RENDEZVOUS_PREFIX', flag: '--prefix', default: '/', help: 'path prefix of the rendezvous endpoints', parse: prefix },
  {
    key: 'publicBaseUrl',
    env: 'RENDEZVOUS_PUBLIC_BASE_URL',
    flag: '--public-base-url',
    default: '',
    help: 'external base URL put in front of the prefix in returned URLs (empty = from the request Host)',
    parse: publicBaseUrl,
  },
  {
    key: 'ttlSeconds',
    env: 'RENDEZVOUS_TTL_SECONDS',
    flag: '--ttl',
    default: String(DEFAULT_TTL_SECONDS),
    help: 'lifetime of a rendezvous in seconds, fixed at creation',
    parse: integer(1, 86_400),
  },
  {
    key: 'maxBytes',
    env: 'RENDEZVOUS_MAX_BYTES',
    flag: '--max-bytes',
    default: String(DEFAULT_MAX_BYTES),
    help: 'largest payload in bytes',
    parse: integer(0, 16 * 1024 * 1024),
  },
  {
    key: 'maxSessions',
    env: 'RENDEZVOUS_MAX_SESSIONS',
    flag: '--max-sessions',
    default: String(DEFAULT_MAX_SESSIONS),
    help: 'live rendezvous at once',
    parse: integer(1, 100_000_000),
  },
  {
    key: 'maxTotalBytes',
    env: 'RENDEZVOUS_MAX_TOTAL_BYTES',
    flag: '--max-total-bytes',
    default: String(DEFAULT_MAX_TOTAL_BYTES),
    help: 'payload bytes held at once',
    parse: integer(0, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'maxWaitSeconds',
    env: 'RENDEZVOUS_MAX_WAIT_SECONDS',
    flag: '--max-wait',
    default: String(DEFAULT_MAX_WAIT_SECONDS),
    help: 'longest long-poll wait in seconds',
    parse: integer(0, 240),
  },
  {
    key: 'maxWaiters',
    env: 'RENDEZVOUS_MAX_WAITERS',
    flag: '--max-waiters',
    default: String(DEFAULT_MAX_WAITERS),
    help: 'long-poll requests held at once',
    parse: integer(0, 10_000_000),
  },
  {
    key: 'trustProxy',
    env: 'RENDEZVOUS_TRUST_PROXY',
    flag: '--trust-proxy',
    default: 'off',
    help: 'trust X-Forwarded-* from: off, a hop count, or comma-separated proxy addresses or ranges (10.0.0.0/8)',
    parse: trustProxy,
  },
  {
    key: 'rateLimit',
    env: 'RENDEZVOUS_RATE_LIMIT',
    flag: '--rate-limit',
    default: '6000/60',
    help: 'requests per client address other than creation, as <requests>/<seconds> or off',
    parse: rateLimit,
  },
  {
    key: 'rateLimitScope',
    env: 'RENDEZVOUS_RATE_LIMIT_SCOPE',
    flag: '--rate-limit-scope',
    default: 'instance',
    help: 'who counts a client: instance (each instance its own buckets: N instances give N times the budget) or global (buckets in Redis shared by every instance, one round trip per request; the instance decides alone while Redis is away)',
    parse: (raw) => {
      if (raw !== 'instance' && raw !== 'global') throw new Error('expected instance or global')
      return raw
    },
  },
  {
    key: 'createRateLimit',
    env: 'RENDEZVOUS_CREATE_RATE_LIMIT',
    flag: '--create-rate-limit',
    default: '300/300',
    help: 'creations per client address, as <requests>/<seconds> or off',
    parse: rateLimit,
  },
  {
    key: 'bodyTimeoutSeconds',
    env: 'RENDEZVOUS_BODY_TIMEOUT_SECONDS',
    flag: '--body-timeout',
    default: '10',
    help: 'seconds a request body may take to arrive',
    parse: integer(1, 3600),
  },
  {
    key: 'maxInFlight',
    env: 'RENDEZVOUS_MAX_IN_FLIGHT',
    flag: '--max-in-flight',
    default: '10000',
    help: 'requests processed at once (long-polls not counted)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'maxInFlightPerClient',
    env: 'RENDEZVOUS_MAX_IN_FLIGHT_PER_CLIENT',
    flag: '--max-in-flight-per-client',
    default: '64',
    help: 'requests one client address (IPv6: one /64) may have processed at once (long-polls not counted), or off',
    parse: offOr(integer(1, 10_000_000)),
  },
  {
    key: 'logLevel',
    env: 'RENDEZVOUS_LOG_LEVEL',
    flag: '--log-level',
    default: 'info',
    help: 'debug, info (one line per request), warn, error or off',
    parse: logLevel,
  },
  {
    key: 'shutdownDrainSeconds',
    env: 'RENDEZVOUS_SHUTDOWN_DRAIN_SECONDS',
    flag: '--shutdown-drain',
    default: '5',
    help: 'seconds the server keeps serving after SIGTERM (with Connection: close) before it stops listening',
    parse: integer(0, 600),
  },
  {
    key: 'shutdownGraceSeconds',
    env: 'RENDEZVOUS_SHUTDOWN_GRACE_SECONDS',
    flag: '--shutdown-grace',
    default: '10',
    help: 'seconds shutdown then waits for requests in flight',
    parse: integer(0, 3600),
  },
  {
    key: 'createAuth',
    env: 'RENDEZVOUS_CREATE_AUTH',
    flag: '--create-auth',
    default: 'off',
    help: 'creating needs a bearer token: off, a file with one accepted token per line, or a homeserver URL whose whoami accepts the token',
    parse: createAuth,
  },
  {
    key: 'createAuthCheckRateLimit',
    env: 'RENDEZVOUS_CREATE_AUTH_CHECK_RATE_LIMIT',
    flag: '--create-auth-check-rate-limit',
    default: '30/60',
    help: 'under homeserver create auth, new tokens per client address the homeserver is asked about, as <requests>/<seconds> or off',
    parse: rateLimit,
  },
  {
    key: 'createAuthOpen',
    env: 'RENDEZVOUS_CREATE_AUTH_OPEN',
    flag: '--create-auth-open',
    default: 'none',
    help: `create paths left open to token-less clients under create auth: none, or a comma-separated list of ${OPENABLE_DIALECTS.join(', ')}`,
    parse: openDialects,
  },
  {
    key: 'store',
    env: 'RENDEZVOUS_STORE',
    flag: '--store',
    default: 'memory',
    help: 'where rendezvous live: memory, or a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL shared by every instance (or from a file: RENDEZVOUS_STORE_FILE, --store-file)',
    parse: storeSetting,
    secret: true,
  },
  {
    key: 'redisSentinelPassword',
    env: 'RENDEZVOUS_REDIS_SENTINEL_PASSWORD',
    flag: '--redis-sentinel-password',
    default: '',
    help: "with redis+sentinel://, the sentinels' own password when they have one (the URL's password is the data nodes'); also RENDEZVOUS_REDIS_SENTINEL_PASSWORD_FILE",
    parse: (raw) => (raw === '' ? null : raw),
    secret: true,
  },
  {
    key: 'redisWaitReplicas',
    env: 'RENDEZVOUS_REDIS_WAIT_REPLICAS',
    flag: '--redis-wait-replicas',
    default: '0',
    help: 'replicas each write must reach (Redis WAIT) before it is acknowledged, so a failover loses none; 0 = acknowledged once the primary has it',
    parse: integer(0, 16),
  },
  {
    key: 'redisWaitTimeoutMs',
    env: 'RENDEZVOUS_REDIS_WAIT_TIMEOUT_MS',
    flag: '--redis-wait-timeout-ms',
    default: '500',
    help: 'with RENDEZVOUS_REDIS_WAIT_REPLICAS, how long a write waits for them; a write that reaches fewer is answered 503 and retried by the client',
    parse: integer(1, 60_000),
  },
  {
    key: 'redisClusterGroups',
    env: 'RENDEZVOUS_REDIS_CLUSTER_GROUPS',
    flag: '--redis-cluster-groups',
    default: '16',
    help: 'with redis+cluster://, how many slot-pinned groups share the capacity limits (1, 2, 4, ... 64; the same on every instance; a prefix with a {hash tag} means one)',
    parse: (raw) => {
      const groups = integer(1, 64)(raw)
      if (64 % groups !== 0) throw new Error('expected 1, 2, 4, 8, 16, 32 or 64')
      return groups
    },
  },
  {
    key: 'redisHousekeepingSeconds',
    env: 'RENDEZVOUS_REDIS_HOUSEKEEPING_SECONDS',
    flag: '--redis-housekeeping',
    default: '1',
    help: 'how often each process PINGs Redis and reclaims expired ids, also when idle (2 commands per interval, and one per extra cluster group); raise it where Redis bills per command: a Redis that stops answering is noticed within this plus 2 s',
    parse: integer(1, 300),
  },
  {
    key: 'redisPrefix',
    env: 'RENDEZVOUS_REDIS_PREFIX',
    flag: '--redis-prefix',
    default: 'rz:',
    help: 'prefix of every Redis key and channel, so deployments can share one Redis',
    parse: redisPrefix,
  },
  {
    key: 'workers',
    env: 'RENDEZVOUS_WORKERS',
    flag: '--workers',
    default: '1',
    help: 'server processes sharing the port (more than 1 needs a redis:// store)',
    parse: integer(1, 256),
  },
  { key: 'demo', env: 'RENDEZVOUS_DEMO', flag: '--demo', default: 'off', help: 'serve the browser demo page at /demo: on or off', parse: onOff },
]

export type LoadResult =
  | {
      readonly kind: 'config'
      readonly config: ServerConfig
      /** Things that work but that an operator should change, one line each. */
      readonly warnings: readonly string[]
    }
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'error'; readonly message: string }

/** The file forms of a secret setting: `RENDEZVOUS_STORE_FILE`, `--store-file`. */
const fileEnv = (setting: AnySetting) => `${setting.env}_FILE`
const fileFlag = (setting: AnySetting) => `${setting.flag}-file`

/** Reads a secret's file: its contents without the line break editors leave at the end. */
export function readSecretFile(path: string): string {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '')
}

/**
 * Reads every setting from `argv` flags (`--port 80` or `--port=80`), else `env`, else its default.
 * Flags win over the environment; a secret's file form (`--store-file`, `RENDEZVOUS_STORE_FILE`)
 * stands beside its plain form at the same rank, and giving both is an error. The first bad value
 * yields one line naming the setting, with any secret in it masked.
 */
export function loadConfig(env: Record<string, string | undefined>, argv: readonly string[], readFile: (path: string) => string = readSecretFile): LoadResult {
  const flags = new Map<string, string>()
  const known = new Set(SETTINGS.flatMap((s) => (s.secret ? [s.flag, fileFlag(s)] : [s.flag])))
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') return { kind: 'help', text: helpText() }
    const eq = arg.indexOf('=')
    const name = eq < 0 ? arg : arg.slice(0, eq)
    if (!known.has(name)) return { kind: 'error', message: `unknown option ${JSON.stringify(name)} (see --help)` }
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1)
    if (value === undefined) return { kind: 'error', message: `option ${name} needs a value` }
    flags.set(name, value)
  }
  const config: Record<string, unknown> = {}
  const sources = new Map<keyof ServerConfig, string>()
  const warnings: string[] = []
  for (const setting of SETTINGS) {
    const found = rawValue(setting, flags, env, readFile)
    if (found.kind === 'error') return found
    sources.set(setting.key, found.source)
    // A URL is a secret only for its password; any other secret setting is one whole.
    if (setting.secret && found.source === setting.flag && (setting.key === 'store' ? hasPassword(found.raw) : found.raw !== '')) {
      warnings.push(`${setting.flag} carries a password, which every user of this machine can read in ps; use ${fileFlag(setting)} or ${fileEnv(setting)}`)
    }
    try {
      config[setting.key] = setting.parse(found.raw.trim())
    } catch (error) {
      const shown = setting.secret ? maskSecret(found.raw) : found.raw
      return { kind: 'error', message: `invalid ${found.source} ${JSON.stringify(shown)}: ${(error as Error).message}` }
    }
  }
  const frozen = Object.freeze(config as unknown as ServerConfig)
  const conflict = conflictBetweenSettings(frozen, (key) => sources.get(key)!)
  return conflict === null ? { kind: 'config', config: frozen, warnings } : { kind: 'error', message: conflict }
}

type RawValue = { readonly kind: 'value'; readonly raw: string; readonly source: string } | { readonly kind: 'error'; readonly message: string }

/** Where one setting's text comes from: a flag, its file flag, the environment, its file variable, or the default. */
function rawValue(
  setting: AnySetting,
  flags: ReadonlyMap<string, string>,
  env: Record<string, string | undefined>,
  readFile: (path: string) => string,
): RawValue {
  const fromFile = (source: string, path: string): RawValue => {
    try {
      return { kind: 'value', raw: readFile(path), source }
    } catch (error) {
      return {
        kind: 'error',
        message: `invalid ${source} ${JSON.stringify(path)}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      }
    }
  }
  const both = (plain: string, file: string): RawValue => ({ kind: 'error', message: `${plain} and ${file} both given: use one` })
  const flag = flags.get(setting.flag)
  if (setting.secret) {
    const fileByFlag = flags.get(fileFlag(setting))
    if (flag !== undefined && fileByFlag !== undefined) return both(setting.flag, fileFlag(setting))
    if (fileByFlag !== undefined) return fromFile(fileFlag(setting), fileByFlag)
  }
  if (flag !== undefined) return { kind: 'value', raw: flag, source: setting.flag }
  const variable = env[setting.env]
  if (setting.secret) {
    const fileByEnv = env[fileEnv(setting)]
    if (variable !== undefined && fileByEnv !== undefined) return both(setting.env, fileEnv(setting))
    if (fileByEnv !== undefined) return fromFile(fileEnv(setting), fileByEnv)
  }
  if (variable !== undefined) return { kind: 'value', raw: variable, source: setting.env }
  return { kind: 'value', raw: setting.default, source: setting.env }
}

/**
 * `scheme://user:password@host` → `scheme://user:***@host`: what may be printed of a secret-bearing
 * URL. The userinfo runs to the authority's last `@`, as URL parsers read it, so a password pasted
 * with a raw `@` in it is masked whole.
 */
function maskSecret(raw: string): string {
  return raw.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/]*)@/, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':')
    return colon < 0 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`
  })
}

function hasPassword(raw: string): boolean {
  return maskSecret(raw) !== raw
}

/**
 * `env` with the settings given as flags in `argv` turned into the variables that say the same:
 * how the supervisor hands its settings to its workers without putting them in their command lines
 * (where `ps` shows them). A secret's file flag becomes its file variable, so workers read the
 * file themselves, and a secret given by flag replaces both of its variables, as the flag did.
 */
export function environmentForWorkers(env: Record<string, string | undefined>, argv: readonly string[]): Record<string, string | undefined> {
  const byFlag = new Map<string, { readonly setting: AnySetting; readonly variable: string }>()
  for (const setting of SETTINGS) {
    byFlag.set(setting.flag, { setting, variable: setting.env })
    if (setting.secret) byFlag.set(fileFlag(setting), { setting, variable: fileEnv(setting) })
  }
  const result = { ...env }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.indexOf('=')
    const target = byFlag.get(eq < 0 ? arg : arg.slice(0, eq))
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1)
    if (target === undefined || value === undefined) continue
    if (target.setting.secret) {
      delete result[target.setting.env]
      delete result[fileEnv(target.setting)]
    }
    result[target.variable] = value
  }
  return result
}

/** Settings valid alone but not together: one line naming the setting to change, or null. */
function conflictBetweenSettings(config: ServerConfig, nameOf: (key: keyof ServerConfig) => string): string | null {
  if (config.workers > 1 && config.store.kind === 'memory') {
    return `invalid ${nameOf('workers')} ${config.workers}: several workers need a shared store (RENDEZVOUS_STORE=redis://…); with the memory store each would hold its own rendezvous`
  }
  if (config.redisWaitReplicas > 0 && config.store.kind === 'redis' && /^rediss?\+cluster:/.test(config.store.url)) {
    return `invalid ${nameOf('redisWaitReplicas')} ${config.redisWaitReplicas}: waiting for replicas is offered with one Redis or Sentinel, not with a cluster (each shard has its own)`
  }
  if (config.rateLimitScope === 'global' && config.store.kind === 'memory') {
    return `invalid ${nameOf('rateLimitScope')} global: shared rate limits need a shared store (RENDEZVOUS_STORE=redis://…)`
  }
  const metrics = config.metricsListen
  if (
    metrics.kind === 'listen' &&
    metrics.port !== 0 &&
    metrics.port === config.port &&
    (metrics.host === config.host || isWildcard(metrics.host) || isWildcard(config.host))
  ) {
    return `invalid ${nameOf('metricsListen')}: the metrics listener must not share the public port ${config.port}`
  }
  return null
}

const isWildcard = (host: string) => host === '0.0.0.0' || host === '::'

/** The `--help` text: one line per setting with its flag, variable and default. */
export function helpText(): string {
  const lines = [
    'Usage: rendezvous [options]              (from source: bun run server [options])',
    '       rendezvous doctor <public URL>    check a deployment from outside (doctor --help)',
    '       rendezvous healthcheck            exit 0 when the server on this machine is ready (for image health checks)',
    '',
    'Options (flags win over environment variables):',
  ]
  for (const s of SETTINGS) {
    lines.push(`  ${`${s.flag} <value>`.padEnd(28)} ${s.env.padEnd(34)} ${s.help} (default: ${s.default === '' ? 'none' : s.default})`)
    if (s.secret) lines.push(`  ${`${fileFlag(s)} <path>`.padEnd(28)} ${fileEnv(s).padEnd(34)} the same, read from a file`)
  }
  lines.push(`  ${'--help'.padEnd(28)} ${''.padEnd(34)} print this help`)
  return lines.join('\n')
}

// --- Parsers ---

function integer(min: number, max: number): (raw: string) => number {
  return (raw) => {
    if (!/^\d+$/.test(raw)) throw new Error(`expected a whole number from ${min} to ${max}`)
    const n = Number(raw)
    if (n < min || n > max) throw new Error(`expected a whole number from ${min} to ${max}`)
    return n
  }
}

/** `off` (no bound: null), or what `parse` makes of the value. */
function offOr<T>(parse: (raw: string) => T): (raw: string) => T | null {
  return (raw) => (raw.toLowerCase() === 'off' ? null : parse(raw))
}

function host(raw: string): string {
  if (!/^[A-Za-z0-9.:_%[\]-]+$/.test(raw)) throw new Error('expected a host name or IP address')
  return raw
}

function metricsListen(raw: string): MetricsListen {
  if (raw === 'off') return { kind: 'off' }
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw)
  const port = Number(match?.[3])
  if (!match || port > 65_535) throw new Error('must be host:port (e.g. 127.0.0.1:9108, 0.0.0.0:9108, [::1]:9108) or off')
  return { kind: 'listen', host: match[1] ?? match[2]!, port }
}

function prefix(raw: string): string {
  if (!raw.startsWith('/')) throw new Error('expected a path starting with /')
  if (!/^(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*\/?$/.test(raw)) throw new Error('expected plain path segments without empty, "." or ".." parts')
  if (/\/\.\.?(\/|$)/.test(raw)) throw new Error('expected plain path segments without empty, "." or ".." parts')
  return raw.endsWith('/') ? raw : `${raw}/`
}

function publicBaseUrl(raw: string): string | null {
  if (raw === '') return null
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new Error('expected an absolute http or https URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('expected an absolute http or https URL')
  if (url.search || url.hash || url.username || url.password) throw new Error('expected no query, fragment or credentials')
  return url.href.replace(/\/+$/, '')
}

function rateLimit(raw: string): RateLimit {
  if (raw.toLowerCase() === 'off') return { kind: 'off' }
  const match = /^(\d+)\/(\d+)$/.exec(raw)
  const requests = Number(match?.[1])
  const seconds = Number(match?.[2])
  if (!match || requests < 1 || seconds < 1 || requests > 1e9 || seconds > 86_400) {
    throw new Error('expected <requests>/<seconds> with whole numbers (e.g. 60/60), or off')
  }
  return { kind: 'bucket', requests, seconds }
}

function createAuth(raw: string): CreateAuth {
  if (raw === '' || raw.toLowerCase() === 'off') return { kind: 'off' }
  if (/^https?:\/\//i.test(raw)) {
    const url = absoluteUrl(raw, ['http:', 'https:'], 'expected off, a token file, or the homeserver URL (https://…)')
    if (url.search || url.hash || url.username || url.password) throw new Error('expected a homeserver URL without query, fragment or credentials')
    return { kind: 'homeserver', baseUrl: url.href.replace(/\/+$/, '') }
  }
  return { kind: 'file', path: raw }
}

function openDialects(raw: string): ReadonlySet<OpenableDialect> {
  if (raw === '' || raw.toLowerCase() === 'none') return new Set()
  const names = raw.split(',').map((n) => n.trim().toLowerCase())
  for (const name of names) {
    if (!(OPENABLE_DIALECTS as readonly string[]).includes(name)) {
      throw new Error(`expected none or a list of ${OPENABLE_DIALECTS.join(', ')}; ${JSON.stringify(name)} is not one (MSC4388 clients send tokens)`)
    }
  }
  return new Set(names as OpenableDialect[])
}

function storeSetting(raw: string): StoreSetting {
  if (raw === '' || raw.toLowerCase() === 'memory') return { kind: 'memory' }
  if (/^rediss?\+(sentinel|cluster):/i.test(raw)) {
    parseRedisTarget(raw)
    return { kind: 'redis', url: raw.replace(/^[A-Za-z][A-Za-z0-9+.-]*:/, (scheme) => scheme.toLowerCase()) }
  }
  const url = absoluteUrl(raw, ['redis:', 'rediss:'], 'expected memory, or a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL')
  if (!/^\/?\d*$/.test(url.pathname)) throw new Error('expected the database as a number after the host, e.g. redis://host:6379/0')
  if (url.search || url.hash) throw new Error('expected a Redis URL without query or fragment')
  // Schemes are case-insensitive (RFC 3986): `REDISS://` is TLS, and must reach the client as such.
  return { kind: 'redis', url: raw.replace(/^[A-Za-z][A-Za-z0-9+.-]*:/, (scheme) => scheme.toLowerCase()) }
}

function redisPrefix(raw: string): string {
  if (!/^[A-Za-z0-9:_.{}-]{1,64}$/.test(raw)) throw new Error('expected 1-64 characters of letters, digits and :_.{}-')
  return raw
}

function absoluteUrl(raw: string, protocols: readonly string[], message: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new Error(message)
  }
  if (!protocols.includes(url.protocol) || url.hostname === '') throw new Error(message)
  return url
}

function onOff(raw: string): boolean {
  const lowered = raw.toLowerCase()
  if (lowered === 'on' || lowered === 'true' || lowered === '1') return true
  if (lowered === 'off' || lowered === 'false' || lowered === '0' || lowered === '') return false
  throw new Error('expected on or off')
}

/**
 * The accepted bearer tokens of a token file: one per line; blank lines and `#` comments ignored.
 * Throws when the file holds none, so a typo cannot leave creation open or shut by accident.
 */
export function parseTokenFile(text: string): ReadonlySet<string> {
  const tokens = new Set(
    text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#')),
  )
  if (tokens.size === 0) throw new Error('the token file lists no tokens')
  return tokens
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'off']

function logLevel(raw: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === raw.toLowerCase())
  if (!level) throw new Error(`expected one of ${LOG_LEVELS.join(', ')}`)
  return level
}

function trustProxy(raw: string): TrustProxy {
  const lowered = raw.toLowerCase()
  if (lowered === 'off' || lowered === 'false' || lowered === '0' || lowered === '') return { kind: 'off' }
  if (/^\d+$/.test(raw)) return { kind: 'hops', hops: integer(1, 32)(raw) }
  const entries = raw
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '')
  if (entries.length === 0) throw new Error('expected off, a hop count, or comma-separated IP addresses or ranges')
  const ranges = entries.map((entry) => {
    const range = parseAddressRange(entry)
    if (range === null) throw new Error(`${JSON.stringify(entry)} is not an IP address or range (e.g. 10.0.0.1, ::1, 10.0.0.0/8)`)
    return range
  })
  return { kind: 'addresses', ranges }
}
