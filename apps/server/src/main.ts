/**
 * @module The process entry point: the only place that reads the environment and argv, touches
 * Bun's server and stderr, listens, and handles signals.
 */

import { readFileSync } from 'node:fs'
import { MemoryStore, type RendezvousStore } from '@rendezvous/store'
import { createApp, listenOptions } from './app.ts'
import { type MetricsListen, type ServerConfig, loadConfig, parseTokenFile } from './config.ts'
import { type ReloadableTokens, type TokenVerifier, homeserverTokens, reloadableTokens } from './create-auth.ts'
import { type Logger, jsonLogger } from './log.ts'
import type { Family } from './metric-families.ts'
import { type MetricsListener, serveMetrics } from './metrics-listener.ts'
import { WORKER_INDEX_ENV, supervise, workerChannel } from './supervisor.ts'

/** How often buffered log lines reach stderr. */
const LOG_FLUSH_MS = 100

// `rendezvous doctor <url>` checks a deployment from outside instead of serving.
if (process.argv[2] === 'doctor') {
  const { runDoctor } = await import('./doctor/main.ts')
  process.exit(await runDoctor(process.argv.slice(3), process.env))
}

// `rendezvous healthcheck` asks the local server's /ready instead of serving (image health checks).
if (process.argv[2] === 'healthcheck') {
  const settings = loadConfig(process.env, process.argv.slice(3))
  if (settings.kind !== 'config') fail(settings.kind === 'error' ? settings.message : "healthcheck takes the server's settings, and no --help")
  const { runHealthcheck } = await import('./healthcheck.ts')
  process.exit(await runHealthcheck(settings.config))
}

const loaded = loadConfig(process.env, process.argv.slice(2))
if (loaded.kind === 'help') {
  console.log(loaded.text)
  process.exit(0)
}
if (loaded.kind === 'error') fail(loaded.message)
const { config, warnings } = loaded

// One log line per request is cheap only when buffered: lines collect in a sink flushed every 100 ms.
const stderr = Bun.stderr.writer()
const flushLogs = setInterval(() => stderr.flush(), LOG_FLUSH_MS)
flushLogs.unref()
const workerIndex = process.env[WORKER_INDEX_ENV]
const baseLogger = jsonLogger(config.logLevel, (line) => void stderr.write(line))
// A worker's lines say which worker wrote them.
const logger: Logger =
  workerIndex === undefined
    ? baseLogger
    : { enabled: baseLogger.enabled, log: (level, message, fields) => baseLogger.log(level, message, { ...fields, worker: Number(workerIndex) }) }

// A worker's supervisor has said it already.
if (workerIndex === undefined) for (const warning of warnings) logger.log('warn', warning)

if (config.workers > 1 && workerIndex === undefined) {
  // Settings the workers would only discover one by one are checked once, here.
  tokenVerifier(config, logger)
  supervise({
    workers: config.workers,
    port: config.port === 0 ? freePort(config.host) : config.port,
    stopTimeoutMs: (config.shutdownDrainSeconds + config.shutdownGraceSeconds) * 1000,
    logger,
    flush: () => stderr.flush(),
    metricsListen: config.metricsListen,
  })
} else {
  await serve()
}

async function serve(): Promise<void> {
  const verifier = tokenVerifier(config, logger)
  const store = await openStore(config, logger)
  const draining = new AbortController()
  const app = createApp({ store, config, logger, shutdownSignal: draining.signal, tokenVerifier: verifier })
  // A worker's metrics go to its supervisor, which serves the group's.
  const metrics =
    workerIndex === undefined && config.metricsListen.kind === 'listen' ? listenForMetrics(config.metricsListen, () => app.observability.families()) : null
  app.listen(listenOptions(config))
  const server = app.server!
  logger.log('info', 'listening', {
    url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${server.port}${config.prefix}`,
    store: store.name,
    pid: process.pid,
    ttl_seconds: config.ttlSeconds,
    max_bytes: config.maxBytes,
  })
  stderr.flush()

  /** SIGHUP (or the supervisor, passing it on): the token file is read again; nothing else reloads. */
  const reload = () => {
    if (verifier === null || !('reload' in verifier)) {
      logger.log('info', 'reload: nothing to reload (only a create-auth token file is reloaded)')
      return
    }
    try {
      verifier.reload()
      logger.log('info', 'reloaded the create-auth token file')
    } catch (error) {
      logger.log('error', 'reload failed; keeping the tokens read before', { detail: (error as Error).message })
    }
  }
  const supervisor = workerChannel({ onReload: reload, onSupervisorGone: () => void shutdown('supervisor gone'), families: () => app.observability.families() })
  supervisor?.listening()

  let stopping = false
  /**
   * Drains, then stops: `/ready` answers 503 at once (so a load balancer stops sending), held
   * long-polls are answered, and for the drain period every answer carries `Connection: close` (so
   * clients take their next request elsewhere) while the server still serves. Then it stops
   * listening and waits up to the grace for requests in flight.
   */
  async function shutdown(signal: string): Promise<void> {
    if (stopping) return
    stopping = true
    logger.log('info', 'shutting down', { signal, drain_seconds: config.shutdownDrainSeconds, grace_seconds: config.shutdownGraceSeconds })
    const exit = () => {
      stderr.flush()
      process.exit(0)
    }
    setTimeout(exit, (config.shutdownDrainSeconds + config.shutdownGraceSeconds) * 1000).unref()
    draining.abort()
    await Bun.sleep(config.shutdownDrainSeconds * 1000)
    logger.log('info', 'stopped listening', { in_flight: server.pendingRequests })
    metrics?.stop()
    await server.stop(false)
    while (server.pendingRequests > 0) await Bun.sleep(20)
    await store.close()
    exit()
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGHUP', reload)
}

// --- Start-up helpers ---

/** The metrics listener; an address that cannot be had stops the start, like any bad setting. */
function listenForMetrics(listen: Extract<MetricsListen, { kind: 'listen' }>, families: () => Promise<Family[]>): MetricsListener {
  try {
    const listener = serveMetrics(listen, families)
    logger.log('info', 'metrics listening', { url: listener.url })
    return listener
  } catch (error) {
    return fail(`cannot serve metrics on RENDEZVOUS_METRICS_LISTEN ${listen.host}:${listen.port}: ${(error as Error).message} (another address, or off)`)
  }
}

/** Who may create, from RENDEZVOUS_CREATE_AUTH; a token file that cannot be read stops the start. */
function tokenVerifier(config: ServerConfig, logger: Logger): TokenVerifier | ReloadableTokens | null {
  const auth = config.createAuth
  switch (auth.kind) {
    case 'off':
      return null
    case 'homeserver':
      return homeserverTokens({ baseUrl: auth.baseUrl, logger })
    case 'file':
      try {
        return reloadableTokens(() => parseTokenFile(readFileSync(auth.path, 'utf8')))
      } catch (error) {
        return fail(`invalid RENDEZVOUS_CREATE_AUTH ${JSON.stringify(auth.path)}: ${(error as Error).message}`)
      }
  }
}

/**
 * The store RENDEZVOUS_STORE names. Redis is loaded only when asked for; an unreachable Redis does
 * not stop the start (requests get 503 and /ready says so until it answers).
 */
async function openStore(config: ServerConfig, logger: Logger): Promise<RendezvousStore> {
  const limits = { ttlMs: config.ttlSeconds * 1000, maxSessions: config.maxSessions, maxTotalBytes: config.maxTotalBytes }
  if (config.store.kind === 'memory') return new MemoryStore(limits)
  const { RedisStore } = await import('@rendezvous/store/redis')
  let lastError = -Infinity
  return new RedisStore({
    ...limits,
    url: config.store.url,
    ...(config.redisSentinelPassword ? { sentinelPassword: config.redisSentinelPassword } : {}),
    waitReplicas: config.redisWaitReplicas,
    waitTimeoutMs: config.redisWaitTimeoutMs,
    clusterGroups: config.redisClusterGroups,
    healthIntervalMs: config.redisHousekeepingSeconds * 1000,
    reclaimIntervalMs: config.redisHousekeepingSeconds * 1000,
    prefix: config.redisPrefix,
    onConnectionEvent(event, detail) {
      // A reconnect loop reports every attempt; one line every few seconds says enough.
      if (event === 'error' && performance.now() - lastError < 5000) return
      if (event === 'error') lastError = performance.now()
      if (event === 'warning') return logger.log('warn', 'store may lose rendezvous', { detail })
      logger.log(event === 'error' ? 'warn' : 'info', event === 'error' ? 'store connection failing' : 'store reconnected', { detail })
    },
  })
}

/** A port nobody listens on right now, for workers that must all use the same one. */
function freePort(host: string): number {
  const probe = Bun.listen({ hostname: host, port: 0, socket: { data() {} } })
  const { port } = probe
  probe.stop(true)
  return port
}

/** One line naming what is wrong, exit code 2: how every bad setting stops the start. */
function fail(message: string): never {
  console.error(`rendezvous: ${message}`)
  process.exit(2)
}
