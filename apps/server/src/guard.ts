/**
 * @module The guard every API request passes through, whichever dialect serves it: the in-flight
 * bound, the rate limits, the store's outages (503, never 500), the drain on shutdown
 * (`Connection: close`), and one metrics observation and one log line per request.
 */

import { Header } from '@rendezvous/protocol'
import { type RendezvousStore, StoreUnavailableError } from '@rendezvous/store'
import { clientRateLimitKey } from './client-address.ts'
import type { RateLimit, ServerConfig } from './config.ts'
import { type Logger, idHash } from './log.ts'
import type { Metrics } from './metrics.ts'
import { type ClientBudget, SharedRateLimiter, type TakeResult, limiterFor } from './rate-limit.ts'
import { Refusal, closing, errorResponse, preflightResponse } from './responses.ts'

/** Which budget a request spends: creations, or everything else. */
export type LimiterKind = 'create' | 'general'

/** Bun's server as Elysia hands it to a handler (null when the app is not listening). */
export type Server = { requestIP(request: Request): { address: string } | null } | null

/** How long a client should wait after the store was unreachable. */
const STORE_RETRY_AFTER_MS = 2000
/** How long a client over its own in-flight bound should wait. */
const CLIENT_BUSY_RETRY_AFTER_MS = 1000

/**
 * What a handler may do with the request it serves: hold it (a long-poll). A held request counts
 * against the bound of held long-polls instead of the in-flight bounds, global and per client.
 */
export interface Admission {
  /** The key this request's client is counted under (its address, or an IPv6 /64); null when nothing counts clients. */
  readonly client: string | null
  /** Runs `wait` with this request counted as a held long-poll rather than as in flight. */
  hold<T>(wait: () => Promise<T>): Promise<T>
}

export interface GuardOptions {
  readonly config: ServerConfig
  readonly store: RendezvousStore
  readonly logger: Logger
  readonly metrics: Metrics
  /** Aborted when shutdown begins: every answer from then on closes its connection. */
  readonly shutdownSignal: AbortSignal
}

export class Guard {
  readonly #config: ServerConfig
  readonly #store: RendezvousStore
  readonly #logger: Logger
  readonly #metrics: Metrics
  readonly #shutdownSignal: AbortSignal
  readonly #limiters: Readonly<Record<LimiterKind, ClientBudget | null>>
  /** Whether anything needs to know who the client is (a rate limit, or the per-client bound). */
  readonly #keyed: boolean
  /** Requests being processed, held long-polls not counted. */
  #inFlight = 0
  #held = 0
  /** Requests being processed per client key (held long-polls not counted); only keys above zero. */
  readonly #inFlightByClient = new Map<string, number>()
  #lastStoreWarning = -Infinity

  constructor({ config, store, logger, metrics, shutdownSignal }: GuardOptions) {
    this.#config = config
    this.#store = store
    this.#logger = logger
    this.#metrics = metrics
    this.#shutdownSignal = shutdownSignal
    const budget = (name: LimiterKind, limit: RateLimit): ClientBudget | null =>
      limit.kind === 'off' ? null : config.rateLimitScope === 'global' ? new SharedRateLimiter(name, limit, store) : limiterFor(limit)
    this.#limiters = { create: budget('create', config.createRateLimit), general: budget('general', config.rateLimit) }
    this.#keyed =
      this.#limiters.create !== null ||
      this.#limiters.general !== null ||
      config.maxInFlightPerClient !== null ||
      // Tokens new to the create gate are counted per client before a homeserver is asked about them.
      config.createAuthCheckRateLimit.kind !== 'off'
  }

  /** Requests being processed, held long-polls not counted. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** Long-poll requests being held. */
  get held(): number {
    return this.#held
  }

  /** Client addresses the rate limiters remember. */
  get trackedClients(): number {
    return (this.#limiters.create?.trackedKeys ?? 0) + (this.#limiters.general?.trackedKeys ?? 0)
  }

  /**
   * Runs `work` for a request unless the server is too busy or the client over its budget, then
   * records the outcome. `id` is the rendezvous the request is about, if any: its log line carries
   * the id's hash. A refusal never reaches the store: refusing must cost less than serving.
   */
  async run(
    request: Request,
    server: Server,
    route: string,
    limiter: LimiterKind,
    id: string | null,
    work: (admission: Admission) => Promise<Response> | Response,
  ): Promise<Response> {
    const started = performance.now()
    const client = this.#keyed ? this.#clientKey(request, server) : null
    let response: Response | undefined
    let admission: RequestAdmission | null = null
    const decided = this.#refusal(client, limiter)
    const refusal = decided instanceof Promise ? await decided : decided
    if (refusal !== null) {
      response = refusal
    } else {
      admission = new RequestAdmission(this, client)
      this.#enter(client)
      try {
        response = await work(admission)
      } catch (error) {
        response = error instanceof Refusal ? error.response : error instanceof StoreUnavailableError ? this.#storeUnavailable(error) : this.#fault(error)
      } finally {
        this.#leave(client)
      }
    }
    const status = response.status
    const seconds = (performance.now() - started) / 1000
    // The handling-time histogram leaves a long-poll's wait out; the wait has its own.
    this.#metrics.observe(request.method, route, status, seconds - (admission?.heldSeconds ?? 0))
    if (this.#logger.enabled('info')) {
      const fields: Record<string, unknown> = { method: request.method, route, status, duration_ms: Math.round(seconds * 1e4) / 10 }
      if (id !== null) fields['id_hash'] = idHash(id)
      this.#logger.log('info', 'request', fields)
    }
    return this.finish(response)
  }

  /** Counts a request in: globally and, when clients are told apart, for its client. */
  #enter(client: string | null): void {
    this.#inFlight++
    if (client !== null) this.#inFlightByClient.set(client, (this.#inFlightByClient.get(client) ?? 0) + 1)
  }

  #leave(client: string | null): void {
    this.#inFlight--
    if (client === null) return
    const count = this.#inFlightByClient.get(client)! - 1
    if (count === 0) this.#inFlightByClient.delete(client)
    else this.#inFlightByClient.set(client, count)
  }

  /** See `Admission.hold`. */
  async holdFor<T>(client: string | null, wait: () => Promise<T>): Promise<T> {
    this.#leave(client)
    this.#held++
    try {
      return await wait()
    } finally {
      this.#held--
      this.#enter(client)
    }
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

  /** The key the client is counted under: its address (behind a trusted proxy, the forwarded one), or its /64. */
  #clientKey(request: Request, server: Server): string {
    const peer = server?.requestIP(request)?.address ?? null
    return clientRateLimitKey(this.#config.trustProxy, peer, request.headers.get(Header.xForwardedFor))
  }

  /**
   * A refusal to protect the server, or null when the request may proceed: the server as a whole
   * too busy, this client holding too many requests at once, or this client over its rate.
   */
  #refusal(client: string | null, kind: LimiterKind): Response | null | Promise<Response | null> {
    if (this.#inFlight >= this.#config.maxInFlight) {
      this.#metrics.refuse('in_flight')
      return errorResponse('rate_limited', { detail: 'Server busy, try again shortly', retryAfterMs: 1000 })
    }
    if (client === null) return null
    const perClient = this.#config.maxInFlightPerClient
    if (perClient !== null && (this.#inFlightByClient.get(client) ?? 0) >= perClient) {
      this.#metrics.refuse('client_in_flight')
      // Its body, if any, stays unread: the connection cannot carry another request.
      return closing(errorResponse('rate_limited', { detail: 'Too many requests in progress from this address', retryAfterMs: CLIENT_BUSY_RETRY_AFTER_MS }))
    }
    const limiter = this.#limiters[kind]
    if (limiter === null) return null
    const allowed = limiter.take(client)
    return allowed instanceof Promise ? allowed.then((taken) => this.#overRate(taken)) : this.#overRate(allowed)
  }

  #overRate(allowed: TakeResult): Response | null {
    if (allowed.ok) return null
    this.#metrics.refuse('rate_limited')
    return errorResponse('rate_limited', { retryAfterMs: allowed.retryAfterMs })
  }

  /** A bug, not a client's doing: logged, and answered 500 like the framework's own error handler would. */
  #fault(error: unknown): Response {
    this.#logger.log('error', 'unhandled error', { error: error instanceof Error ? error.message : String(error) })
    return errorResponse('internal')
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

/** One request's admission: what `Admission.hold` needs to move it between the counts. */
class RequestAdmission implements Admission {
  readonly #guard: Guard
  readonly client: string | null
  /** How long the request was held, in seconds. */
  heldSeconds = 0

  constructor(guard: Guard, client: string | null) {
    this.#guard = guard
    this.client = client
  }

  async hold<T>(wait: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      return await this.#guard.holdFor(this.client, wait)
    } finally {
      this.heldSeconds += (performance.now() - started) / 1000
    }
  }
}
