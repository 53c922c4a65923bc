/**
 * @module `createApp({ store, config })` builds the Elysia app. It never listens and never reads the
 * environment: `main.ts` does that, and tests build apps of their own.
 *
 * Every request goes through `guarded`, which applies the in-flight bound and the rate limits, and
 * records metrics and one log line, whatever the outcome.
 */

import { Header, type HealthResponse, MSC3886_PATH, MSC4108_PATH, MSC4388_PATHS, isRendezvousId } from '@rendezvous/protocol'
import type { RendezvousStore } from '@rendezvous/store'
import { Elysia } from 'elysia'
import { BodyDeadlines } from './body.ts'
import { clientAddress, rateLimitKey } from './client-address.ts'
import { demoAssets } from './demo.ts'
import type { ServerConfig } from './config.ts'
import { type Logger, idHash, stderrLogger } from './log.ts'
import { Metrics } from './metrics.ts'
import { publicBaseUrl } from './public-url.ts'
import { type RateLimiter, limiterFor } from './rate-limit.ts'
import { msc4388Handlers } from './msc4388.ts'
import { type CreateDialect, rendezvousHandlers } from './rendezvous.ts'
import { errorResponse, jsonResponse, preflightResponse } from './responses.ts'

export interface AppOptions {
  readonly store: RendezvousStore
  readonly config: ServerConfig
  /** @default JSON lines on stderr at info */
  readonly logger?: Logger
  /**
   * Aborted when the process starts shutting down: held long-polls are answered at once and
   * `/ready` reports draining. @default never aborted
   */
  readonly shutdownSignal?: AbortSignal
  /**
   * Bearer tokens allowed to create MSC4388 rendezvous (main.ts reads them from the file named by
   * RENDEZVOUS_CREATE_AUTH), or null when creation is open. @default null
   */
  readonly createTokens?: ReadonlySet<string> | null
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
  }
}

const CREATE_ALLOW = 'POST, OPTIONS'
const RENDEZVOUS_ALLOW = 'GET, HEAD, PUT, DELETE, OPTIONS'
const MSC4388_BASE_ALLOW = 'GET, POST, OPTIONS'
const MSC4388_SESSION_ALLOW = 'GET, PUT, DELETE, OPTIONS'
/** Route labels for metrics and logs: templates, never concrete ids. */
const CREATE_ROUTE = '/'
const RENDEZVOUS_ROUTE = '/{id}'

/** Bodies are read by our own size-limited reader, never parsed by the framework. */
const RAW_BODY = { parse: 'none' } as const

/** The `:id` path parameter. The paths are built at run time, so Elysia cannot type them. */
function idParam(params: unknown): string {
  return (params as Record<string, string>)['id'] ?? ''
}

/** Bun's server as Elysia hands it to a handler (null when the app is not listening). */
type Server = { requestIP(request: Request): { address: string } | null } | null

export function createApp({
  store,
  config,
  logger = stderrLogger,
  shutdownSignal = new AbortController().signal,
  createTokens = null,
}: AppOptions) {
  const metrics = new Metrics()
  const onRefusal = (reason: 'capacity' | 'body_timeout') => metrics.refuse(reason)
  const bodyDeadlines = new BodyDeadlines(config.bodyTimeoutSeconds * 1000)
  const rendezvous = rendezvousHandlers(store, config, { shutdownSignal, bodyDeadlines, onRefusal })
  const msc4388 = msc4388Handlers(store, { bodyDeadlines, createTokens, onRefusal })
  const createLimiter = limiterFor(config.createRateLimit)
  const generalLimiter = limiterFor(config.rateLimit)
  const { prefix, maxInFlight } = config
  let inFlight = 0

  function preflight(): Response {
    metrics.observe('OPTIONS', 'preflight', 204, 0)
    return preflightResponse()
  }

  /**
   * Runs `work` for a request unless the server is too busy or the client over its budget, then
   * records the outcome. `id` is the rendezvous the request is about, if any: a refusal still
   * carries its ETag headers, and the log line carries its hash.
   */
  async function guarded(
    request: Request,
    server: Server,
    route: string,
    limiter: RateLimiter | null,
    id: string | null,
    work: () => Promise<Response> | Response,
  ): Promise<Response> {
    const started = performance.now()
    inFlight++
    let response: Response | undefined
    try {
      // Held long-polls have their own bound and do not crowd out other requests.
      if (inFlight - rendezvous.heldRequests() > maxInFlight) {
        metrics.refuse('in_flight')
        response = errorResponse('rate_limited', { detail: 'Server busy, try again shortly', retryAfterMs: 1000 })
        return response
      }
      if (limiter) {
        const peer = server?.requestIP(request)?.address ?? null
        const key = rateLimitKey(clientAddress(config.trustProxy, peer, request.headers.get(Header.xForwardedFor)))
        const allowed = limiter.take(key)
        if (!allowed.ok) {
          metrics.refuse('rate_limited')
          const live = id !== null && isRendezvousId(id) ? await store.get(id) : null
          response = errorResponse('rate_limited', { retryAfterMs: allowed.retryAfterMs, rendezvous: live ?? undefined })
          return response
        }
      }
      response = await work()
      return response
    } finally {
      inFlight--
      const status = response?.status ?? 500
      const seconds = (performance.now() - started) / 1000
      metrics.observe(request.method, route, status, seconds)
      if (logger.enabled('info')) {
        const fields: Record<string, unknown> = { method: request.method, route, status, duration_ms: Math.round(seconds * 1e4) / 10 }
        if (id !== null) fields['id_hash'] = idHash(id)
        logger.log('info', 'request', fields)
      }
    }
  }

  // Compile every route at start-up rather than on its first request. Elysia by default finds the
  // path by skipping 11 characters (`http://a.bc`), which misroutes requests with a Host shorter
  // than four characters; clients choose the Host, so we take the exact way.
  const app = new Elysia({ precompile: true, handler: { standardHostname: false } })
    // A CORS preflight gets the same answer on every path, known or not. A route rather than an
    // onRequest hook: a hook would run (and cost) on every request.
    .options('/', () => preflight())
    .options('/*', () => preflight())
    .onError(({ code, error, request }) => {
      if (code === 'NOT_FOUND') {
        metrics.observe(request.method, 'unknown', 404, 0)
        return errorResponse('unknown_route')
      }
      if (code === 'PARSE' || code === 'VALIDATION') return errorResponse('invalid_param')
      logger.log('error', 'unhandled error', { code, error: error instanceof Error ? error.message : String(error) })
      return errorResponse('internal')
    })
    .get('/health', () => jsonResponse(200, { status: 'ok' } satisfies HealthResponse))
    .get('/ready', () =>
      shutdownSignal.aborted
        ? jsonResponse(503, { status: 'draining' } satisfies HealthResponse)
        : jsonResponse(200, { status: 'ready' } satisfies HealthResponse),
    )
    .get('/metrics', () => {
      const { sessions, payloadBytes } = store.stats()
      const gauges = {
        liveRendezvous: sessions,
        livePayloadBytes: payloadBytes,
        heldLongPolls: rendezvous.heldRequests(),
        inFlight: inFlight - rendezvous.heldRequests(),
        rateLimitedClients: (createLimiter?.trackedKeys ?? 0) + (generalLimiter?.trackedKeys ?? 0),
      }
      const body = metrics.render(gauges, process.memoryUsage())
      return new Response(body, { headers: { [Header.contentType]: 'text/plain; version=0.0.4; charset=utf-8', [Header.cacheControl]: 'no-store' } })
    })

  if (config.demo) {
    const demo = demoAssets()
    app.get('/demo', () => demo.page())
    app.get('/demo/demo.js', () => demo.script())
    app.get('/demo/qr', ({ request }) => demo.qr(request))
  }

  // Handlers name the context fields they use: Elysia inspects them and skips parsing the rest
  // (cookies, query, headers). Passing the whole context along would make it prepare everything.

  // Elysia matches `/prefix` and `/prefix/` alike; only the relative Location differs between them.
  app.all(
    prefix,
    ({ request, server }) => {
      if (request.method !== 'POST') {
        return guarded(request, server, CREATE_ROUTE, generalLimiter, null, () => errorResponse('method_not_allowed', { allow: CREATE_ALLOW }))
      }
      return guarded(request, server, CREATE_ROUTE, createLimiter, null, () =>
        createIn(request, server, { kind: 'seed', locationBase: locationBase(request.url) }),
      )
    },
    RAW_BODY,
  )

  /** Creates a rendezvous answered in `dialect`'s shape, with URLs as the client sees them. */
  function createIn(request: Request, server: Server, dialect: CreateDialect): Promise<Response> {
    // The peer only matters when it might be a trusted proxy.
    const peerAddress = config.trustProxy.kind === 'off' ? null : (server?.requestIP(request)?.address ?? null)
    return rendezvous.create(request, publicBaseUrl(request, config, peerAddress), dialect)
  }

  // The later Matrix dialects create sessions whose URLs are the root dialect's (section 10 B, C).
  for (const [path, kind] of [[MSC3886_PATH, 'msc3886'], [MSC4108_PATH, 'msc4108']] as const) {
    app.all(
      path,
      ({ request, server }) =>
        request.method === 'POST'
          ? guarded(request, server, path, createLimiter, null, () => createIn(request, server, { kind }))
          : guarded(request, server, path, generalLimiter, null, () => errorResponse('method_not_allowed', { allow: CREATE_ALLOW })),
      RAW_BODY,
    )
  }

  // MSC4388: JSON bodies and sequence tokens, under its stable and unstable paths (section 10 D).
  for (const base of MSC4388_PATHS) {
    const sessionRoute = `${base}/{id}`
    app.all(
      base,
      ({ request, server }) => {
        switch (request.method) {
          case 'GET':
            return guarded(request, server, base, generalLimiter, null, () => msc4388.discovery())
          case 'POST':
            return guarded(request, server, base, createLimiter, null, () => msc4388.create(request))
          default:
            return guarded(request, server, base, generalLimiter, null, () => errorResponse('method_not_allowed', { allow: MSC4388_BASE_ALLOW }))
        }
      },
      RAW_BODY,
    )
    app.all(
      `${base}/:id`,
      ({ request, server, params }) => {
        const id = idParam(params)
        return guarded(request, server, sessionRoute, generalLimiter, id, () => {
          switch (request.method) {
            case 'GET':
              return msc4388.read(request, id)
            case 'PUT':
              return msc4388.update(request, id)
            case 'DELETE':
              return msc4388.remove(id)
            default:
              return errorResponse('method_not_allowed', { allow: MSC4388_SESSION_ALLOW })
          }
        })
      },
      RAW_BODY,
    )
  }

  app.all(
    `${prefix}:id`,
    ({ request, server, params }) => {
      const id = idParam(params)
      return guarded(request, server, RENDEZVOUS_ROUTE, generalLimiter, id, () => {
        switch (request.method) {
          case 'GET':
          case 'HEAD':
            return rendezvous.read(request, id)
          case 'PUT':
            return rendezvous.update(request, id)
          case 'DELETE':
            return rendezvous.remove(id)
          default:
            return errorResponse('method_not_allowed', { allow: RENDEZVOUS_ALLOW })
        }
      })
    },
    RAW_BODY,
  )

  return app
}

export type App = ReturnType<typeof createApp>

/**
 * What goes before the id in a relative `Location`: nothing when the POST URL's path ends in `/`,
 * else its last segment and a slash, so that `rz/<id>` resolves against `/rz` to `/rz/<id>`.
 */
function locationBase(url: string): string {
  const queryStart = url.indexOf('?')
  const path = queryStart < 0 ? url : url.slice(0, queryStart)
  return path.endsWith('/') ? '' : `${path.slice(path.lastIndexOf('/') + 1)}/`
}
