/**
 * @module The root dialect (docs/protocol.md#root-dialect, #conditional-requests and #long-poll-extension): the seed draft's `POST /` and the
 * `/<id>` endpoints every ETag dialect's session URL points at, with conditional requests and the
 * long-poll extension.
 */

import {
  type CreateResponse,
  type EntityTagCondition,
  Header,
  conditionMatches,
  isRendezvousId,
  parseEntityTagCondition,
  parsePreferWait,
} from '@rendezvous/protocol'
import { AbortFanout, waitForChange } from '@rendezvous/store'
import type { AnyElysia } from 'elysia'
import { readWriteBody } from '../body.ts'
import { contentTypeOf, payloadOf, tooLargeDetail } from '../payloads.ts'
import { acceptedResponse, closing, createdHeadersFor, errorResponse, noContentResponse, notModifiedResponse, payloadResponse, refuse } from '../responses.ts'
import { type RouteContext, mount } from '../routing.ts'
import type { Admission } from '../guard.ts'
import type { DialectContext } from './context.ts'
import { createFromBody } from './create.ts'

const ANY: EntityTagCondition = { kind: 'any' }

export function rootDialect(context: DialectContext) {
  const { store, config, guard, metrics, bodyDeadlines, shutdownSignal } = context
  const { maxBytes, prefix, maxWaitSeconds, maxWaiters } = config
  const createdHeaders = createdHeadersFor(maxBytes, 'application/json')
  /** Every held long-poll listens for shutdown here: one listener on the signal, not one per poll. */
  const shutdownOfWaits = new AbortFanout(shutdownSignal)

  /** `POST /`: 200 JSON `{id, max_bytes, url}` and a `Location` relative to the POST URL. */
  async function create(request: Request, route: RouteContext): Promise<Response> {
    const { rendezvous, url, requestUrl } = await createFromBody(context, request, route, 'seed')
    const headers = createdHeaders(rendezvous, `${locationBase(requestUrl)}${rendezvous.id}`)
    const body: CreateResponse = { id: rendezvous.id, max_bytes: maxBytes, url }
    return new Response(JSON.stringify(body), { status: 200, headers })
  }

  async function read(request: Request, id: string, admission: Admission): Promise<Response> {
    if (!isRendezvousId(id)) return errorResponse('not_found')
    const ifNoneMatchHeader = request.headers.get(Header.ifNoneMatch)
    const rendezvous = await store.get(id)
    if (!rendezvous) return errorResponse('not_found')
    if (ifNoneMatchHeader === null) return payloadResponse(rendezvous)
    const ifNoneMatch = parseCondition(ifNoneMatchHeader, 'If-None-Match')
    if (!conditionMatches(ifNoneMatch, rendezvous.etag)) return payloadResponse(rendezvous)
    const prefer = request.headers.get(Header.prefer)
    const wait = prefer === null ? undefined : parsePreferWait(prefer)
    // Over the bound we answer like a server without the extension: at once, no Preference-Applied.
    if (wait === undefined || guard.held >= maxWaiters) return notModifiedResponse(rendezvous)
    const seconds = Math.min(wait, maxWaitSeconds)
    if (seconds === 0 || shutdownSignal.aborted) return withWaitApplied(notModifiedResponse(rendezvous), seconds)
    return longPoll(request, rendezvous.id, ifNoneMatch, seconds, admission)
  }

  /**
   * Holds a GET whose tag is current until the rendezvous changes, goes, or `seconds` pass
   * (docs/protocol.md#long-poll-extension). The deadline bounds the wait even if a client's disconnect goes unnoticed.
   * It keeps the id, not the record, through the wait: a record read from Redis is a copy of its
   * payload, which thousands of held requests would otherwise keep alive.
   */
  async function longPoll(request: Request, id: string, known: EntityTagCondition, seconds: number, admission: Admission): Promise<Response> {
    const heldSince = performance.now()
    const outcome = await admission.hold(() => waitForChange(store, id, known, { timeoutMs: seconds * 1000, signal: [request.signal, shutdownOfWaits] }))
    const ended = outcome.kind === 'changed' ? 'woken' : outcome.kind === 'aborted' ? (shutdownSignal.aborted ? 'shutdown' : 'client_gone') : outcome.kind
    metrics.longPoll(ended, (performance.now() - heldSince) / 1000)
    switch (outcome.kind) {
      case 'changed':
        return withWaitApplied(payloadResponse(outcome.rendezvous), seconds)
      case 'gone':
        return withWaitApplied(errorResponse('not_found'), seconds)
      case 'timeout':
        return withWaitApplied(notModifiedResponse(outcome.rendezvous), seconds)
      case 'aborted': {
        // Shutting down: tell the client where things stand now. (When the client itself went
        // away, nobody reads this answer.)
        const current = await store.get(id)
        if (!current) return withWaitApplied(errorResponse('not_found'), seconds)
        return withWaitApplied(conditionMatches(known, current.etag) ? notModifiedResponse(current) : payloadResponse(current), seconds)
      }
    }
  }

  /**
   * `PUT /<id>`: compare-and-swap on `If-Match` (absent means `*`). A retry of the write that is
   * already current (its answer was lost) is accepted as done; see `repeatsLastWrite`. The store
   * decides in one atomic step, so a write costs one trip to a shared store, not two.
   */
  async function update(request: Request, id: string): Promise<Response> {
    if (!isRendezvousId(id)) return errorResponse('not_found')
    const contentType = contentTypeOf(request)
    const ifMatchHeader = request.headers.get(Header.ifMatch)
    const ifMatch = ifMatchHeader === null ? ANY : parseCondition(ifMatchHeader, 'If-Match')
    const body = await readWriteBody(request, maxBytes, bodyDeadlines, () => store.exists(id))
    if (!body.ok && body.reason === 'gone') return closing(errorResponse('not_found'))
    // A 413 for a live rendezvous carries its headers (docs/protocol.md#headers): the one refusal that reads the store.
    if (!body.ok && body.reason === 'too_large') {
      const current = await store.get(id)
      return current ? errorResponse('too_large', { rendezvous: current, detail: tooLargeDetail(maxBytes) }) : errorResponse('not_found')
    }
    const payload = payloadOf(body, maxBytes, context.onBodyTimeout)
    const result = await store.update(id, { payload, contentType, ifMatch })
    if (result.ok) return acceptedResponse(result.rendezvous)
    switch (result.reason) {
      case 'not_found':
        return errorResponse('not_found')
      case 'etag_mismatch':
        return errorResponse('precondition_failed', { rendezvous: result.current })
      case 'full':
        metrics.refuse('capacity')
        return errorResponse('server_full', { rendezvous: result.current, retryAfterMs: result.retryAfterMs })
    }
  }

  async function remove(id: string): Promise<Response> {
    if (!isRendezvousId(id)) return errorResponse('not_found')
    if (!(await store.delete(id))) return errorResponse('not_found')
    metrics.deleted()
    return noContentResponse()
  }

  return (app: AnyElysia) => {
    // Elysia matches `/prefix` and `/prefix/` alike; only the relative Location differs between them.
    mount(app, guard, { path: prefix, label: '/', methods: { POST: { limiter: 'create', handle: create } } })
    mount(app, guard, {
      path: `${prefix}:id`,
      label: '/{id}',
      methods: {
        GET: { limiter: 'general', handle: (request, { id, admission }) => read(request, id, admission) },
        HEAD: { limiter: 'general', handle: (request, { id, admission }) => read(request, id, admission) },
        PUT: { limiter: 'general', handle: (request, { id }) => update(request, id) },
        DELETE: { limiter: 'general', handle: (_request, { id }) => remove(id) },
      },
    })
    return app
  }
}

// --- Internal helpers ---

/**
 * The parsed value of an `If-Match`/`If-None-Match` header; a malformed one is refused (400): a
 * condition we cannot read must not be silently ignored.
 */
function parseCondition(value: string, header: 'If-Match' | 'If-None-Match'): EntityTagCondition {
  const parsed = parseEntityTagCondition(value)
  if (parsed.ok) return parsed.condition
  return refuse('invalid_param', { detail: `Malformed ${header} header: ${parsed.error}` })
}

function withWaitApplied(response: Response, seconds: number): Response {
  response.headers.set(Header.preferenceApplied, `wait=${seconds}`)
  return response
}

/**
 * What goes before the id in a relative `Location`: nothing when the POST URL's path ends in `/`,
 * else its last segment and a slash, so that `rz/<id>` resolves against `/rz` to `/rz/<id>`.
 */
function locationBase(url: string): string {
  const queryStart = url.indexOf('?')
  const path = queryStart < 0 ? url : url.slice(0, queryStart)
  return path.endsWith('/') ? '' : `${path.slice(path.lastIndexOf('/') + 1)}/`
}
