/**
 * @module `createApp({ store, config })` builds the Elysia app. It never listens and never reads the
 * environment: `main.ts` does that, and tests build apps of their own.
 *
 * The app is the operational routes (health, readiness, the optional demo) plus one plugin
 * per dialect (`dialects/`). Every dialect mounts its routes through `routing.ts`, so each answers
 * CORS preflights and unknown methods the same way and passes the same guard (`guard.ts`).
 */

import type { HealthResponse } from '@rendezvous/protocol'
import type { RendezvousStore } from '@rendezvous/store'
import { Elysia } from 'elysia'
import { BodyDeadlines } from './body.ts'
import type { ServerConfig } from './config.ts'
import { CreateGate, type TokenVerifier } from './create-auth.ts'
import { demoAssets } from './demo.ts'
import { INFO_PATH, PROBE_PATH, SERVER_VERSION, infoResponse, probeResponse, serverInfo } from './diagnostics.ts'
import { msc3886Dialect } from './dialects/msc3886.ts'
import { msc4108Dialect } from './dialects/msc4108.ts'
import { msc4388Dialect } from './dialects/msc4388.ts'
import { rootDialect } from './dialects/root.ts'
import type { DialectContext } from './dialects/context.ts'
import { Guard } from './guard.ts'
import { type Logger, stderrLogger } from './log.ts'
import type { Family } from './metric-families.ts'
import { Metrics } from './metrics.ts'
import { mount } from './routing.ts'
import { errorResponse, jsonResponse } from './responses.ts'

export interface AppOptions {
  readonly store: RendezvousStore
  readonly config: ServerConfig
  /** @default JSON lines on stderr at info */
  readonly logger?: Logger
  /**
   * Aborted when the process starts shutting down: held long-polls are answered at once, `/ready`
   * reports draining, and every answer asks its client to close the connection. @default never
   */
  readonly shutdownSignal?: AbortSignal
  /**
   * Decides which bearer tokens may create (main.ts builds it from RENDEZVOUS_CREATE_AUTH), or
   * null when creation is open. @default null
   */
  readonly tokenVerifier?: TokenVerifier | null
}

/** Bun's upper bound for a connection's idle timeout, in seconds. */
const BUN_MAX_IDLE_TIMEOUT = 255

/** Options for `app.listen` that follow from the config; main.ts and the tests both use them. */
export function listenOptions(config: ServerConfig) {
  return {
    hostname: config.host,
    port: config.port,
    // A held long-poll must outlive its wait, and a slow body its timeout: the connection may sit
    // idle that long.
    idleTimeout: Math.min(BUN_MAX_IDLE_TIMEOUT, Math.max(config.maxWaitSeconds, config.bodyTimeoutSeconds) + 15),
    // Our own reader enforces max_bytes (with a JSON 413, before or while reading); Bun must not
    // answer first with a bare 413 of its own.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    // Several worker processes share one port; a single process must not share it by accident with
    // another server that happens to listen there (Elysia turns port sharing on by default).
    reusePort: config.workers > 1,
  }
}

export function createApp({ store, config, logger = stderrLogger, shutdownSignal = new AbortController().signal, tokenVerifier = null }: AppOptions) {
  const metrics = new Metrics()
  const guard = new Guard({ config, store, logger, metrics, shutdownSignal })
  const context: DialectContext = {
    store,
    config,
    guard,
    metrics,
    bodyDeadlines: new BodyDeadlines(config.bodyTimeoutSeconds * 1000),
    createGate: new CreateGate(tokenVerifier, config.createAuthOpen, config.createAuthCheckRateLimit, (decision) => metrics.createAuth(decision)),
    shutdownSignal,
    onBodyTimeout: () => metrics.refuse('body_timeout'),
  }

  // Compile every route at start-up rather than on its first request. Elysia by default finds the
  // path by skipping 11 characters (`http://a.bc`), which misroutes requests with a Host shorter
  // than four characters; clients choose the Host, so we take the exact way.
  const app = new Elysia({ precompile: true, handler: { standardHostname: false } })
    // A CORS preflight on a path no route knows still gets the contract's answer (known paths
    // answer it through `mount`). A route rather than an onRequest hook: a hook would run (and
    // cost) on every request.
    .options('/', () => guard.preflight())
    .options('/*', () => guard.preflight())
    .onError(({ code, error, request }) => {
      if (code === 'NOT_FOUND') {
        metrics.observe(request.method, 'unknown', 404, 0)
        return guard.finish(errorResponse('unknown_route'))
      }
      if (code === 'PARSE' || code === 'VALIDATION') return guard.finish(errorResponse('invalid_param'))
      logger.log('error', 'unhandled error', { code, error: error instanceof Error ? error.message : String(error) })
      return guard.finish(errorResponse('internal'))
    })
    .get('/health', () => guard.finish(jsonResponse(200, { status: 'ok' } satisfies HealthResponse)))
    .get('/ready', () => {
      if (shutdownSignal.aborted) return guard.finish(jsonResponse(503, { status: 'draining' } satisfies HealthResponse))
      if (!store.available()) return guard.finish(jsonResponse(503, { status: 'store_unavailable' } satisfies HealthResponse))
      return guard.finish(jsonResponse(200, { status: 'ready' } satisfies HealthResponse))
    })

  const info = serverInfo(config, store.name)
  mount(app, guard, {
    path: `${config.prefix}${INFO_PATH}`,
    label: `/${INFO_PATH}`,
    methods: {
      GET: {
        limiter: 'general',
        handle: () => infoResponse({ ...info, store_eviction_policy: store.evictionPolicy(), store_topology: store.topology ?? null }),
      },
    },
  })
  mount(app, guard, { path: `${config.prefix}${PROBE_PATH}`, label: `/${PROBE_PATH}`, methods: { GET: { limiter: 'general', handle: () => probeResponse() } } })

  if (config.demo) {
    const demo = demoAssets()
    app.get('/demo', () => guard.finish(demo.page()))
    app.get('/demo/demo.js', () => guard.finish(demo.script()))
    // Drawing a QR code costs real CPU: it spends from the same budgets as the API.
    mount(app, guard, { path: '/demo/qr', label: '/demo/qr', methods: { GET: { limiter: 'general', handle: (request) => demo.qr(request) } } })
  }

  /** What `/metrics` shows; served by main.ts on a listener of its own, never on this app's. */
  const observability: Observability = {
    async families() {
      const available = store.available()
      // During an outage the store cannot count; its gauges then read zero and rendezvous_store_up 0.
      const { sessions, payloadBytes } = available ? await store.stats().catch(() => ({ sessions: 0, payloadBytes: 0 })) : { sessions: 0, payloadBytes: 0 }
      const gauges = {
        storeUp: available ? 1 : 0,
        liveRendezvous: sessions,
        livePayloadBytes: payloadBytes,
        heldLongPolls: guard.held,
        inFlight: guard.inFlight,
        rateLimitedClients: guard.trackedClients,
        evictionPolicy: store.evictionPolicy(),
        expired: store.expiries(),
      }
      const bounds = { maxSessions: config.maxSessions, maxTotalBytes: config.maxTotalBytes, maxWaiters: config.maxWaiters, maxInFlight: config.maxInFlight }
      return metrics.families(gauges, bounds, { version: SERVER_VERSION, store: store.name })
    },
  }

  const dialects = app.use(rootDialect(context)).use(msc3886Dialect(context)).use(msc4108Dialect(context)).use(msc4388Dialect(context))
  return Object.assign(dialects, { observability })
}

export interface Observability {
  /** Everything this process measured, with the gauges read now. */
  families(): Promise<Family[]>
}

export type App = ReturnType<typeof createApp>
