import { describe, expect, it } from 'vitest'
import { SETTINGS, loadConfig, parseTokenFile } from './config.ts'

function config(env: Record<string, string> = {}, argv: string[] = []) {
  const result = loadConfig(env, argv)
  if (result.kind !== 'config') throw new Error(JSON.stringify(result))
  return result.config
}

function error(env: Record<string, string> = {}, argv: string[] = []): string {
  const result = loadConfig(env, argv)
  if (result.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(result)}`)
  return result.message
}

describe('loadConfig', () => {
  it('should default every setting to the contract table', () => {
    expect(config()).toEqual({
      port: 8080,
      host: '0.0.0.0',
      metricsListen: { kind: 'listen', host: '127.0.0.1', port: 9108 },
      prefix: '/',
      publicBaseUrl: null,
      ttlSeconds: 120,
      maxBytes: 10240,
      maxSessions: 100000,
      maxTotalBytes: 268435456,
      maxWaitSeconds: 30,
      maxWaiters: 50000,
      trustProxy: { kind: 'off' },
      rateLimit: { kind: 'bucket', requests: 6000, seconds: 60 },
      rateLimitScope: 'instance',
      createRateLimit: { kind: 'bucket', requests: 300, seconds: 300 },
      bodyTimeoutSeconds: 10,
      maxInFlight: 10000,
      maxInFlightPerClient: 64,
      logLevel: 'info',
      shutdownDrainSeconds: 5,
      shutdownGraceSeconds: 10,
      createAuth: { kind: 'off' },
      createAuthOpen: new Set(),
      createAuthCheckRateLimit: { kind: 'bucket', requests: 30, seconds: 60 },
      store: { kind: 'memory' },
      redisSentinelPassword: null,
      redisWaitReplicas: 0,
      redisWaitTimeoutMs: 500,
      redisClusterGroups: 16,
      redisHousekeepingSeconds: 1,
      redisPrefix: 'rz:',
      workers: 1,
      demo: false,
    })
  })

  it('should read environment variables and let flags win over them', () => {
    const env = { PORT: '9000', RENDEZVOUS_TTL_SECONDS: '60', RENDEZVOUS_MAX_BYTES: '2048' }
    expect(config(env)).toMatchObject({ port: 9000, ttlSeconds: 60, maxBytes: 2048 })
    expect(config(env, ['--port', '9001', '--ttl=30'])).toMatchObject({ port: 9001, ttlSeconds: 30, maxBytes: 2048 })
  })

  it('should accept every flag of the table', () => {
    const argv = SETTINGS.flatMap((s) => [s.flag, s.default])
    expect(config({}, argv)).toEqual(config())
  })

  it('should return a frozen config', () => {
    expect(Object.isFrozen(config())).toBe(true)
  })

  it('should normalise the prefix to end in a slash and the public URL to not', () => {
    expect(config({ RENDEZVOUS_PREFIX: '/rz' }).prefix).toBe('/rz/')
    expect(config({ RENDEZVOUS_PREFIX: '/a/b/' }).prefix).toBe('/a/b/')
    expect(config({ RENDEZVOUS_PUBLIC_BASE_URL: 'https://rz.example/x/' }).publicBaseUrl).toBe('https://rz.example/x')
  })

  it('should read rate limits as <requests>/<seconds> or off', () => {
    expect(config({ RENDEZVOUS_RATE_LIMIT: 'off' }).rateLimit).toEqual({ kind: 'off' })
    expect(config({ RENDEZVOUS_CREATE_RATE_LIMIT: '10/1' }).createRateLimit).toEqual({ kind: 'bucket', requests: 10, seconds: 1 })
  })

  it('should read trust-proxy as off, a hop count or addresses', () => {
    expect(config({ RENDEZVOUS_TRUST_PROXY: 'off' }).trustProxy).toEqual({ kind: 'off' })
    expect(config({ RENDEZVOUS_TRUST_PROXY: '2' }).trustProxy).toEqual({ kind: 'hops', hops: 2 })
    const trust = config({ RENDEZVOUS_TRUST_PROXY: '10.0.0.1, ::1, 192.168.0.0/16, [2001:db8::1]' }).trustProxy
    expect(trust.kind).toBe('addresses')
    if (trust.kind === 'addresses') expect(trust.ranges.map((r) => r.prefixBits)).toEqual([128, 128, 112, 128])
  })

  it('should read the store as memory or a Redis URL, with a key prefix', () => {
    expect(config({ RENDEZVOUS_STORE: 'redis://:pw@redis.internal:6380/2' }).store).toEqual({ kind: 'redis', url: 'redis://:pw@redis.internal:6380/2' })
    expect(config({ RENDEZVOUS_STORE: 'rediss://redis.example' }).store).toEqual({ kind: 'redis', url: 'rediss://redis.example' })
    expect(config({ RENDEZVOUS_REDIS_PREFIX: 'login-a:' }).redisPrefix).toBe('login-a:')
  })

  it('should read the metrics listener as host:port or off, and never on the public port', () => {
    expect(config({ RENDEZVOUS_METRICS_LISTEN: '0.0.0.0:9100' }).metricsListen).toEqual({ kind: 'listen', host: '0.0.0.0', port: 9100 })
    expect(config({ RENDEZVOUS_METRICS_LISTEN: '[::1]:9108' }).metricsListen).toEqual({ kind: 'listen', host: '::1', port: 9108 })
    expect(config({ RENDEZVOUS_METRICS_LISTEN: 'off' }).metricsListen).toEqual({ kind: 'off' })
    for (const bad of ['9108', 'localhost', '127.0.0.1:99999', '::1:9108', ''])
      expect(error({ RENDEZVOUS_METRICS_LISTEN: bad }), bad).toContain('RENDEZVOUS_METRICS_LISTEN')
    expect(error({ PORT: '9108', HOST: '127.0.0.1' })).toContain('public port')
    expect(error({ PORT: '8080' }, ['--metrics-listen', '10.0.0.1:8080'])).toContain('public port')
    expect(config({ PORT: '8080', HOST: '127.0.0.1', RENDEZVOUS_METRICS_LISTEN: '127.0.0.2:8080' }).metricsListen).toMatchObject({ port: 8080 })
  })

  it('should read Sentinel URLs, naming what is wrong without the password', () => {
    expect(config({ RENDEZVOUS_STORE: 'REDIS+SENTINEL://:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster/2' }).store).toEqual({
      kind: 'redis',
      url: 'redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster/2',
    })
    expect(config({ RENDEZVOUS_STORE: 'rediss+sentinel://[::1]:26379/primary' }).store.kind).toBe('redis')
    for (const bad of ['redis+sentinel://:s3cret@10.0.0.1/mymaster', 'redis+sentinel://:s3cret@10.0.0.1:26379', 'redis+sentinel://:s3cret@10.0.0.1:99999/m']) {
      const message = error({ RENDEZVOUS_STORE: bad })
      expect(message, bad).toContain('RENDEZVOUS_STORE')
      expect(message, bad).not.toContain('s3cret')
    }
    expect(config({ RENDEZVOUS_REDIS_SENTINEL_PASSWORD: 'x' }).redisSentinelPassword).toBe('x')
    expect(config({ RENDEZVOUS_REDIS_WAIT_REPLICAS: '1' }).redisWaitReplicas).toBe(1)
  })

  it('should read cluster URLs and the number of groups, and refuse WAIT on a cluster', () => {
    expect(config({ RENDEZVOUS_STORE: 'redis+cluster://:pw@10.0.0.1:6379,10.0.0.2:6379' }).store.kind).toBe('redis')
    expect(config({ RENDEZVOUS_REDIS_CLUSTER_GROUPS: '4' }).redisClusterGroups).toBe(4)
    expect(error({ RENDEZVOUS_REDIS_CLUSTER_GROUPS: '3' })).toContain('RENDEZVOUS_REDIS_CLUSTER_GROUPS')
    expect(error({ RENDEZVOUS_STORE: 'redis+cluster://:s3cret@10.0.0.1' })).not.toContain('s3cret')
    expect(error({ RENDEZVOUS_STORE: 'redis+cluster://10.0.0.1:6379', RENDEZVOUS_REDIS_WAIT_REPLICAS: '1' })).toContain('cluster')
  })

  it('should share rate limits only through a shared store', () => {
    expect(config({ RENDEZVOUS_RATE_LIMIT_SCOPE: 'global', RENDEZVOUS_STORE: 'redis://127.0.0.1:6379' }).rateLimitScope).toBe('global')
    expect(error({ RENDEZVOUS_RATE_LIMIT_SCOPE: 'global' })).toContain('shared store')
    expect(error({ RENDEZVOUS_RATE_LIMIT_SCOPE: 'cluster' })).toContain('RENDEZVOUS_RATE_LIMIT_SCOPE')
  })

  it('should allow several workers only with a shared store, naming the setting when not', () => {
    expect(config({ RENDEZVOUS_WORKERS: '4', RENDEZVOUS_STORE: 'redis://127.0.0.1:6379' }).workers).toBe(4)
    const message = error({ RENDEZVOUS_WORKERS: '2' })
    expect(message).toContain('RENDEZVOUS_WORKERS')
    expect(message).toContain('shared store')
    expect(error({}, ['--workers', '2'])).toContain('--workers')
  })

  it('should read create auth as a token file or a homeserver, and the dialects left open', () => {
    expect(config({ RENDEZVOUS_CREATE_AUTH: 'https://matrix.example.org/' }).createAuth).toEqual({ kind: 'homeserver', baseUrl: 'https://matrix.example.org' })
    expect(config({ RENDEZVOUS_CREATE_AUTH_OPEN: 'msc3886, MSC4108' }).createAuthOpen).toEqual(new Set(['msc3886', 'msc4108']))
    expect(config({ RENDEZVOUS_CREATE_AUTH_OPEN: 'none' }).createAuthOpen).toEqual(new Set())
  })

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ RENDEZVOUS_TTL_SECONDS: '0' }, 'RENDEZVOUS_TTL_SECONDS'],
    [{ RENDEZVOUS_TTL_SECONDS: '1.5' }, 'RENDEZVOUS_TTL_SECONDS'],
    [{ RENDEZVOUS_MAX_BYTES: '-1' }, 'RENDEZVOUS_MAX_BYTES'],
    [{ RENDEZVOUS_MAX_SESSIONS: '0' }, 'RENDEZVOUS_MAX_SESSIONS'],
    [{ RENDEZVOUS_PREFIX: 'rz' }, 'RENDEZVOUS_PREFIX'],
    [{ RENDEZVOUS_PREFIX: '/a/../b' }, 'RENDEZVOUS_PREFIX'],
    [{ RENDEZVOUS_PREFIX: '/a//b' }, 'RENDEZVOUS_PREFIX'],
    [{ RENDEZVOUS_PUBLIC_BASE_URL: 'ftp://x' }, 'RENDEZVOUS_PUBLIC_BASE_URL'],
    [{ RENDEZVOUS_PUBLIC_BASE_URL: 'https://x/?q=1' }, 'RENDEZVOUS_PUBLIC_BASE_URL'],
    [{ RENDEZVOUS_MAX_WAIT_SECONDS: '1000' }, 'RENDEZVOUS_MAX_WAIT_SECONDS'],
    [{ RENDEZVOUS_TRUST_PROXY: 'proxy.example' }, 'RENDEZVOUS_TRUST_PROXY'],
    [{ HOST: 'bad host' }, 'HOST'],
    [{ RENDEZVOUS_RATE_LIMIT: '10' }, 'RENDEZVOUS_RATE_LIMIT'],
    [{ RENDEZVOUS_RATE_LIMIT: '0/60' }, 'RENDEZVOUS_RATE_LIMIT'],
    [{ RENDEZVOUS_CREATE_RATE_LIMIT: '5/0' }, 'RENDEZVOUS_CREATE_RATE_LIMIT'],
    [{ RENDEZVOUS_LOG_LEVEL: 'loud' }, 'RENDEZVOUS_LOG_LEVEL'],
    [{ RENDEZVOUS_BODY_TIMEOUT_SECONDS: '0' }, 'RENDEZVOUS_BODY_TIMEOUT_SECONDS'],
    [{ RENDEZVOUS_DEMO: 'maybe' }, 'RENDEZVOUS_DEMO'],
    [{ RENDEZVOUS_TRUST_PROXY: '10.0.0.256' }, 'RENDEZVOUS_TRUST_PROXY'],
    [{ RENDEZVOUS_TRUST_PROXY: '10.0.0.1, 1:2:3' }, 'RENDEZVOUS_TRUST_PROXY'],
    [{ RENDEZVOUS_TRUST_PROXY: '10.0.0.0/33' }, 'RENDEZVOUS_TRUST_PROXY'],
    [{ RENDEZVOUS_TRUST_PROXY: '::1::2' }, 'RENDEZVOUS_TRUST_PROXY'],
    [{ RENDEZVOUS_STORE: 'postgres://db' }, 'RENDEZVOUS_STORE'],
    [{ RENDEZVOUS_STORE: 'redis://' }, 'RENDEZVOUS_STORE'],
    [{ RENDEZVOUS_STORE: 'redis://host/db0' }, 'RENDEZVOUS_STORE'],
    [{ RENDEZVOUS_REDIS_PREFIX: 'has space' }, 'RENDEZVOUS_REDIS_PREFIX'],
    [{ RENDEZVOUS_WORKERS: '0' }, 'RENDEZVOUS_WORKERS'],
    [{ RENDEZVOUS_SHUTDOWN_DRAIN_SECONDS: 'soon' }, 'RENDEZVOUS_SHUTDOWN_DRAIN_SECONDS'],
    [{ RENDEZVOUS_CREATE_AUTH: 'https://' }, 'RENDEZVOUS_CREATE_AUTH'],
    [{ RENDEZVOUS_CREATE_AUTH_OPEN: 'msc4388' }, 'RENDEZVOUS_CREATE_AUTH_OPEN'],
    [{ RENDEZVOUS_CREATE_AUTH_OPEN: 'everything' }, 'RENDEZVOUS_CREATE_AUTH_OPEN'],
  ])('should refuse %j with one line naming %s', (env, name) => {
    const message = error(env)
    expect(message).toContain(name)
    expect(message).not.toContain('\n')
  })

  it('should read the token file setting and the demo switch', () => {
    expect(config({ RENDEZVOUS_CREATE_AUTH: '/etc/rz/tokens' }).createAuth).toEqual({ kind: 'file', path: '/etc/rz/tokens' })
    expect(config({ RENDEZVOUS_DEMO: 'on' }).demo).toBe(true)
  })

  it('should read tokens one per line, skipping blanks and comments, and refuse an empty file', () => {
    expect([...parseTokenFile('# operators\nabc\n\n  def  \n')]).toEqual(['abc', 'def'])
    expect(() => parseTokenFile('# nothing\n')).toThrow(/no tokens/)
  })

  it('should name the flag when the bad value came from a flag', () => {
    expect(error({}, ['--max-bytes', 'lots'])).toContain('--max-bytes')
  })

  it('should refuse unknown options and options without a value', () => {
    expect(error({}, ['--frobnicate'])).toContain('--frobnicate')
    expect(error({}, ['--port'])).toContain('--port')
  })

  it('should answer --help with every flag and variable', () => {
    const result = loadConfig({}, ['--help'])
    expect(result.kind).toBe('help')
    if (result.kind !== 'help') return
    for (const setting of SETTINGS) {
      expect(result.text).toContain(setting.flag)
      expect(result.text).toContain(setting.env)
    }
  })
})

describe('the README', () => {
  // The configuration table is what operators read: every setting must be in it, with its default.
  it('should list every setting with its variable, flag and default', async () => {
    const readme = await Bun.file(new URL('../../../README.md', import.meta.url)).text()
    for (const setting of SETTINGS) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${setting.env}\` |`))
      expect(row, setting.env).toBeDefined()
      expect(row).toContain(`\`${setting.flag}\``)
      if (setting.default !== '') expect(row, setting.env).toContain(`\`${setting.default}\``)
    }
  })
})
