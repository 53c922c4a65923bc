/**
 * @module The guard every API request passes through, whichever dialect serves it: the in-flight
 * bound, the rate limits, the store's outages (503, never 500), the drain on shutdown
 * (`Connection: close`), and one metrics observation and one log line per request.
 */

import { Header, isRendezvousId } from '@rendezvous/protocol'
import { type RendezvousStore, StoreUnavailableError } from '@rendezvous/store'
import { clientRateLimitKey } from './client-address.ts'
import type { ServerConfig } from './config.ts'
import { type Logger, idHash } from './log.ts'
import type { Metrics } from './metrics.ts'
import { type RateLimiter, limiterFor } from './rate-limit.ts'
import { errorResponse, preflightResponse } from './responses.ts'

/** Which budget a request spends: creations, or everything else. */
export type LimiterKind = 'create' | 'general'

/** Bun's server as Elysia hands it to a handler (null when the app is not listening). */
export type Server = { requestIP(request: Request): { address: string } | null } | null

/** How long a client should wait after the store was unreachable. */
const STORE_RETRY_AFTER_MS = 2000

/** Long-poll requests being held; they have their own bound and do not count as in flight. */
export class LongPolls {
  held = 0
}

export interface GuardOptions {
  readonly config: ServerConfig
  readonly store: RendezvousStore
  readonly logger: Logger
  readonly metrics: Metrics
  readonly longPolls: LongPolls
  /** Aborted when shutdown begins: every answer from then on closes its connection. */
  readonly shutdownSignal: AbortSignal
}

export class Guard {
  readonly #config: ServerConfig
  readonly #store: RendezvousStore
  readonly #logger: Logger
  readonly #metrics: Metrics
  readonly #longPolls: LongPolls
  readonly #shutdownSignal: AbortSignal
  readonly #limiters: Readonly<Record<LimiterKind, RateLimiter | null>>
  /** Requests inside `run`, held long-polls included. */
  #inFlight = 0
  #lastStoreWarning = -Infinity

  constructor({ config, store, logger, metrics, longPolls, shutdownSignal }: GuardOptions) {
    this.#config = config
    this.#store = store
    this.#logger = logger
    this.#metrics = metrics
    this.#longPolls = longPolls
    this.#shutdownSignal = shutdownSignal
    this.#limiters = { create: limiterFor(config.createRateLimit), general: limiterFor(config.rateLimit) }
  }

  /** Requests being processed, held long-polls not counted. */
  get inFlight(): number {
    return this.#inFlight - this.#longPolls.held
  }

  /** Every request inside the guard, held long-polls included: what shutdown waits for. */
  get busy(): number {
    return this.#inFlight
  }

  /** Client addresses the rate limiters remember. */
  get trackedClients(): number {
    return (this.#limiters.create?.trackedKeys ?? 0) + (this.#limiters.general?.trackedKeys ?? 0)
  }

  /**
   * Runs `work` for a request unless the server is too busy or the client over its budget, then
   * records the outcome. `id` is the rendezvous the request is about, if any: a refusal still
   * carries its ETag headers, and the log line carries its hash.
   */
  async run(
    request: Request,
    server: Server,
    route: string,
    limiter: LimiterKind,
    id: string | null,
    work: () => Promise<Response> | Response,
  ): Promise<Response> {
    const started = performance.now()
    this.#inFlight++
    let response: Response | undefined
    try {
      const refusal = this.#refusal(request, server, limiter, id)
      response = refusal === null ? await work() : await refusal
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error
      response = this.#storeUnavailable(error)
    } finally {
      this.#inFlight--
      const status = response?.status ?? 500
      const seconds = (performance.now() - started) / 1000
      this.#metrics.observe(request.method, route, status, seconds)
      if (this.#logger.enabled('info')) {
        const fields: Record<string, unknown> = { method: request.method, route, status, duration_ms: Math.round(seconds * 1e4) / 10 }
        if (id !== null) fields['id_hash'] = idHash(id)
        this.#logger.log('info', 'request', fields)
      }
    }
    return this.finish(response)
  }

  /** The answer to a CORS preflight, on any path; not rate limited (browsers send one per request shape). */
  preflight(): Response {
    this.#metrics.observe('OPTIONS', 'preflight', 204, 0)
    return this.finish(preflightResponse())
  }

  /** Every answer passes here last: while draining, it asks the client to take its next request elsewhere. */
  finish(response: Response): Response {
    if (this.#shutdownSignal.aborted) response.headers.set(Header.connection, 'close')
    return response
  }

  /**
   * A refusal to protect the server, or null when the request may proceed. Synchronous but for a
   * rate-limited request about a rendezvous, whose ETag headers the refusal carries.
   */
  #refusal(request: Request, server: Server, kind: LimiterKind, id: string | null): Response | Promise<Response> | null {
    if (this.inFlight > this.#config.maxInFlight) {
      this.#metrics.refuse('in_flight')
      return errorResponse('rate_limited', { detail: 'Server busy, try again shortly', retryAfterMs: 1000 })
    }
    const limiter = this.#limiters[kind]
    if (limiter === null) return null
    const peer = server?.requestIP(request)?.address ?? null
    const key = clientRateLimitKey(this.#config.trustProxy, peer, request.headers.get(Header.xForwardedFor))
    const allowed = limiter.take(key)
    if (allowed.ok) return null
    this.#metrics.refuse('rate_limited')
    if (id === null || !isRendezvousId(id)) return errorResponse('rate_limited', { retryAfterMs: allowed.retryAfterMs })
    return this.#store.get(id).then((live) => errorResponse('rate_limited', { retryAfterMs: allowed.retryAfterMs, rendezvous: live ?? undefined }))
  }

  #storeUnavailable(error: StoreUnavailableError): Response {
    this.#metrics.storeError()
    // One line per outage second at most: an outage under load must not flood the log.
    const now = performance.now()
    if (now - this.#lastStoreWarning >= 1000) {
      this.#lastStoreWarning = now
      this.#logger.log('warn', 'store unavailable', { store: this.#store.name, error: error.message })
    }
    return errorResponse('service_unavailable', { retryAfterMs: STORE_RETRY_AFTER_MS })
  }
}
