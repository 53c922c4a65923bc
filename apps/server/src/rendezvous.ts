/**
 * @module The root dialect's four operations (contract section 2), as plain functions from a
 * `Request` to a `Response`. No Elysia types here: the app wires them to routes.
 */

import {
  type CreateResponse,
  DEFAULT_CONTENT_TYPE,
  Header,
  type EntityTagCondition,
  conditionMatches,
  isRendezvousId,
  parseEntityTagCondition,
  parsePreferWait,
} from '@rendezvous/protocol'
import { type Rendezvous, type RendezvousStore, waitForChange } from '@rendezvous/store'
import { type BodyDeadlines, readBodyWithin } from './body.ts'
import type { ServerConfig } from './config.ts'
import {
  acceptedResponse,
  errorResponse,
  jsonResponse,
  noContentResponse,
  notModifiedResponse,
  payloadResponse,
  rendezvousHeaders,
} from './responses.ts'

/** Longest Content-Type we store. It is held beside the payload, so it must be bounded too. */
export const MAX_CONTENT_TYPE_LENGTH = 255

const ANY: EntityTagCondition = { kind: 'any' }

/**
 * How a create answers, per dialect (contract sections 2 and 10): the seed's 200 JSON with a
 * relative Location, MSC3886's empty 201 with an absolute Location, MSC4108's 201 JSON `{url}`.
 */
export type CreateDialect =
  | {
      readonly kind: 'seed'
      /** What goes before the id in the relative `Location` (see `locationBase` in app.ts). */
      readonly locationBase: string
    }
  | { readonly kind: 'msc3886' }
  | { readonly kind: 'msc4108' }

export interface HandlerOptions {
  /** Aborts when the server starts shutting down: held long-polls are answered at once. */
  readonly shutdownSignal: AbortSignal
  /** Deadlines of body reads, shared with the other dialects. */
  readonly bodyDeadlines: BodyDeadlines
  /** Told of every request refused to protect the server (for metrics). */
  readonly onRefusal: (reason: 'capacity' | 'body_timeout') => void
}

export interface RendezvousHandlers {
  /** @param publicBaseUrl origin (plus any proxy path) the client sees, without trailing slash */
  create(request: Request, publicBaseUrl: string, dialect: CreateDialect): Promise<Response>
  read(request: Request, id: string): Promise<Response>
  update(request: Request, id: string): Promise<Response>
  remove(id: string): Promise<Response>
  /** Long-poll GETs being held right now. */
  heldRequests(): number
}

export function rendezvousHandlers(
  store: RendezvousStore,
  config: ServerConfig,
  { shutdownSignal, bodyDeadlines, onRefusal }: HandlerOptions,
): RendezvousHandlers {
  const { maxBytes, prefix, maxWaitSeconds, maxWaiters } = config
  let held = 0

  async function create(request: Request, publicBaseUrl: string, dialect: CreateDialect): Promise<Response> {
    const contentType = contentTypeOf(request)
    if (contentType === null) return contentTypeTooLong()
    const body = await readBodyWithin(request, maxBytes, bodyDeadlines)
    if (!body.ok) return bodyRefused(body.reason)
    const result = await store.create({ payload: body.bytes, contentType })
    if (!result.ok) {
      onRefusal('capacity')
      return errorResponse('server_full', { retryAfterMs: result.retryAfterMs })
    }
    const { id } = result.rendezvous
    const url = `${publicBaseUrl}${prefix}${id}`
    const headers = rendezvousHeaders(result.rendezvous)
    headers[Header.xMaxBytes] = String(maxBytes)
    switch (dialect.kind) {
      case 'seed': {
        headers[Header.location] = `${dialect.locationBase}${id}`
        const body: CreateResponse = { id, max_bytes: maxBytes, url }
        return jsonResponse(200, body, headers)
      }
      case 'msc3886':
        headers[Header.location] = url
        return new Response(null, { status: 201, headers })
      case 'msc4108':
        headers[Header.location] = url
        return jsonResponse(201, { url }, headers)
    }
  }

  async function read(request: Request, id: string): Promise<Response> {
    if (!isRendezvousId(id)) return errorResponse('not_found')
    const ifNoneMatchHeader = request.headers.get(Header.ifNoneMatch)
    const rendezvous = await store.get(id)
    if (!rendezvous) return errorResponse('not_found')
    if (ifNoneMatchHeader === null) return payloadResponse(rendezvous)
    // Polling clients send back exactly the tag we gave them: that needs no parsing.
    const ifNoneMatch = ifNoneMatchHeader === rendezvous.etag ? exactly(rendezvous.etag) : parseCondition(ifNoneMatchHeader, 'If-None-Match')
    if (ifNoneMatch instanceof Response) return ifNoneMatch
    if (!conditionMatches(ifNoneMatch, rendezvous.etag)) return payloadResponse(rendezvous)
    const prefer = request.headers.get(Header.prefer)
    const wait = prefer === null ? undefined : parsePreferWait(prefer)
    // Over the bound we answer like a server without the extension: at once, no Preference-Applied.
    if (wait === undefined || held >= maxWaiters) return notModifiedResponse(rendezvous)
    return longPoll(request, rendezvous, ifNoneMatch, Math.min(wait, maxWaitSeconds))
  }

  /**
   * Holds a GET whose tag is current until the rendezvous changes, goes, or `seconds` pass
   * (contract section 8). The deadline bounds the wait even if a client's disconnect goes unnoticed.
   */
  async function longPoll(request: Request, rendezvous: Rendezvous, known: EntityTagCondition, seconds: number): Promise<Response> {
    if (seconds === 0 || shutdownSignal.aborted) return withWaitApplied(notModifiedResponse(rendezvous), seconds)
    held++
    let outcome
    try {
      outcome = await waitForChange(store, rendezvous.id, known, { timeoutMs: seconds * 1000, signal: [request.signal, shutdownSignal] })
    } finally {
      held--
    }
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
        const current = await store.get(rendezvous.id)
        if (!current) return withWaitApplied(errorResponse('not_found'), seconds)
        return withWaitApplied(
          conditionMatches(known, current.etag) ? notModifiedResponse(current) : payloadResponse(current),
          seconds,
        )
      }
    }
  }

  async function update(request: Request, id: string): Promise<Response> {
    if (!isRendezvousId(id)) return errorResponse('not_found')
    const ifMatchHeader = request.headers.get(Header.ifMatch)
    const ifMatch = ifMatchHeader === null ? null : parseCondition(ifMatchHeader, 'If-Match')
    if (ifMatch instanceof Response) return ifMatch
    const contentType = contentTypeOf(request)
    if (contentType === null) return contentTypeTooLong()
    const current = await store.get(id)
    if (!current) return errorResponse('not_found')
    // Fail the precondition before reading a body we would throw away; the store checks again
    // atomically when it writes.
    if (ifMatch && !conditionMatches(ifMatch, current.etag)) {
      return errorResponse('precondition_failed', { rendezvous: current })
    }
    const body = await readBodyWithin(request, maxBytes, bodyDeadlines)
    if (!body.ok) {
      if (body.reason !== 'too_large') return bodyRefused(body.reason)
      return errorResponse('too_large', { rendezvous: (await store.get(id)) ?? current, detail: tooLargeDetail(maxBytes) })
    }
    const result = await store.update(id, { payload: body.bytes, contentType, ifMatch: ifMatch ?? ANY })
    if (result.ok) return acceptedResponse(result.rendezvous)
    switch (result.reason) {
      case 'not_found':
        return errorResponse('not_found')
      case 'etag_mismatch':
        return errorResponse('precondition_failed', { rendezvous: result.current })
      case 'full':
        onRefusal('capacity')
        return errorResponse('server_full', { rendezvous: result.current, retryAfterMs: result.retryAfterMs })
    }
  }

  async function remove(id: string): Promise<Response> {
    if (!isRendezvousId(id)) return errorResponse('not_found')
    return (await store.delete(id)) ? noContentResponse() : errorResponse('not_found')
  }

  function bodyRefused(reason: BodyRefusal): Response {
    return bodyRefusedResponse(reason, tooLargeDetail(maxBytes), onRefusal)
  }

  return { create, read, update, remove, heldRequests: () => held }
}

// --- Internal helpers ---

/**
 * The parsed value of an `If-Match`/`If-None-Match` header, or a 400 response when malformed: a
 * condition we cannot read must not be silently ignored.
 */
function parseCondition(value: string, header: 'If-Match' | 'If-None-Match'): EntityTagCondition | Response {
  const parsed = parseEntityTagCondition(value)
  if (parsed.ok) return parsed.condition
  return errorResponse('invalid_param', { detail: `Malformed ${header} header: ${parsed.error}` })
}

/** The condition naming exactly one strong tag. */
function exactly(etag: string): EntityTagCondition {
  return { kind: 'tags', tags: [{ weak: false, opaque: etag }] }
}

/** The request's Content-Type verbatim (default octet-stream), or null when unreasonably long. */
function contentTypeOf(request: Request): string | null {
  const value = request.headers.get(Header.contentType)
  if (value === null || value === '') return DEFAULT_CONTENT_TYPE
  return value.length > MAX_CONTENT_TYPE_LENGTH ? null : value
}

type BodyRefusal = 'too_large' | 'unreadable' | 'timeout'

/** The answer to a body we would not or could not read; a timeout is also counted as a refusal. */
export function bodyRefusedResponse(reason: BodyRefusal, tooLargeMessage: string, onRefusal: (reason: 'body_timeout') => void): Response {
  switch (reason) {
    case 'too_large':
      return errorResponse('too_large', { detail: tooLargeMessage })
    case 'timeout': {
      onRefusal('body_timeout')
      // The rest of the body may still trickle in: the connection cannot carry another request.
      const response = errorResponse('request_timeout')
      response.headers.set(Header.connection, 'close')
      return response
    }
    case 'unreadable':
      return errorResponse('invalid_param', { detail: 'Request body could not be read' })
  }
}

function withWaitApplied(response: Response, seconds: number): Response {
  response.headers.set(Header.preferenceApplied, `wait=${seconds}`)
  return response
}

function contentTypeTooLong(): Response {
  return errorResponse('invalid_param', { detail: `Content-Type longer than ${MAX_CONTENT_TYPE_LENGTH} characters` })
}

function tooLargeDetail(maxBytes: number): string {
  return `Payload larger than ${maxBytes} bytes`
}
