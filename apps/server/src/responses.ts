/**
 * @module Every response the server sends is built here, so the headers the contract puts on all
 * of them (CORS, no-store) cannot be forgotten on one path.
 */

import {
  type ErrcodeNames,
  CONTENT_SECURITY_POLICY,
  CORS_ALLOW_HEADERS,
  CORS_ALLOW_METHODS,
  CORS_EXPOSE_HEADERS,
  type ErrorKind,
  ERRORS,
  Header,
  NO_STORE,
  PREFLIGHT_MAX_AGE_SECONDS,
  errorBody,
  formatHttpDate,
} from '@rendezvous/protocol'
import type { Rendezvous } from '@rendezvous/store'

/**
 * On every response: browsers may read it from any origin, nothing may cache or transform it, and
 * nothing in it may be sniffed as another type. Built once: every response copies it, which costs
 * a third of building the same headers from an object each time.
 */
const COMMON = new Headers({
  [Header.accessControlAllowOrigin]: '*',
  [Header.accessControlExposeHeaders]: CORS_EXPOSE_HEADERS,
  [Header.cacheControl]: NO_STORE,
  [Header.pragma]: 'no-cache',
  [Header.xContentTypeOptions]: 'nosniff',
  [Header.referrerPolicy]: 'no-referrer',
})

/** A fresh copy of the headers every response carries, to add to. */
export function commonHeaders(): Headers {
  return new Headers(COMMON)
}

/** Common headers plus what a client needs about a live rendezvous: ETag, Expires, Last-Modified. */
function rendezvousHeaders(rendezvous: Rendezvous): Headers {
  return withStateHeaders(new Headers(COMMON), rendezvous)
}

/** Adds the headers that name one state of a rendezvous: ETag, Expires, Last-Modified. */
function withStateHeaders(headers: Headers, rendezvous: Rendezvous): Headers {
  headers.set(Header.etag, rendezvous.etag)
  headers.set(Header.expires, httpDate(rendezvous.expiresAt))
  headers.set(Header.lastModified, httpDate(rendezvous.lastModified))
  return headers
}

/**
 * The headers of a create's answer in one dialect: the common ones, `X-Max-Bytes` and the body's
 * type fixed once; the new rendezvous's ETag, dates and `Location` set per answer.
 */
export function createdHeadersFor(maxBytes: number, contentType: string | null): (rendezvous: Rendezvous, location: string) => Headers {
  const template = new Headers(COMMON)
  template.set(Header.xMaxBytes, String(maxBytes))
  if (contentType !== null) template.set(Header.contentType, contentType)
  return (rendezvous, location) => {
    const headers = withStateHeaders(new Headers(template), rendezvous)
    headers.set(Header.location, location)
    return headers
  }
}

/** Formatted HTTP-dates by epoch second. Under load most responses name one of a few seconds. */
const httpDates = new Map<number, string>()
const MAX_CACHED_DATES = 1024

function httpDate(epochMs: number): string {
  const second = Math.floor(epochMs / 1000)
  let text = httpDates.get(second)
  if (text === undefined) {
    if (httpDates.size >= MAX_CACHED_DATES) httpDates.clear()
    text = formatHttpDate(second * 1000)
    httpDates.set(second, text)
  }
  return text
}

/**
 * The headers of every 304 (or every 200) about one state of a rendezvous are the same: polling
 * clients ask about the same state again and again. They are built once per state (ETags name
 * states, uniquely) and copied into each response, which costs a third of building them each time.
 * Bounded: when full, the cache starts again empty.
 */
class HeadersByState {
  readonly #entries = new Map<string, Headers>()
  readonly #build: (rendezvous: Rendezvous) => Headers

  constructor(build: (rendezvous: Rendezvous) => Headers) {
    this.#build = build
  }

  of(rendezvous: Rendezvous): Headers {
    let headers = this.#entries.get(rendezvous.etag)
    if (headers === undefined) {
      if (this.#entries.size >= MAX_CACHED_STATES) this.#entries.clear()
      headers = this.#build(rendezvous)
      this.#entries.set(rendezvous.etag, headers)
    }
    return headers
  }
}

const MAX_CACHED_STATES = 4096

const notModifiedHeaders = new HeadersByState(rendezvousHeaders)
const payloadHeaders = new HeadersByState((rendezvous) => {
  const headers = rendezvousHeaders(rendezvous)
  headers.set(Header.contentType, rendezvous.contentType)
  headers.set(Header.contentSecurityPolicy, CONTENT_SECURITY_POLICY)
  return headers
})

/**
 * `200 OK` with the payload bytes exactly and the stored content type verbatim. Payloads are
 * whatever a client wrote, so a browser opening one may run, load and frame nothing.
 */
export function payloadResponse(rendezvous: Rendezvous): Response {
  return new Response(rendezvous.payload, { status: 200, headers: payloadHeaders.of(rendezvous) })
}

export function notModifiedResponse(rendezvous: Rendezvous): Response {
  return new Response(null, { status: 304, headers: notModifiedHeaders.of(rendezvous) })
}

/** `202 Accepted` for a PUT: empty, but typed so proxies keep the headers. */
export function acceptedResponse(rendezvous: Rendezvous): Response {
  const headers = rendezvousHeaders(rendezvous)
  headers.set(Header.contentType, 'text/plain')
  return new Response('', { status: 202, headers })
}

export function noContentResponse(): Response {
  return new Response(null, { status: 204, headers: commonHeaders() })
}

export function jsonResponse(status: number, body: unknown, headers: Headers = commonHeaders()): Response {
  headers.set(Header.contentType, 'application/json')
  return new Response(JSON.stringify(body), { status, headers })
}

export interface ErrorResponseOptions {
  /** Replaces the default message of the kind. */
  readonly detail?: string
  /** A live rendezvous the request was about: its ETag headers go on the error too. */
  readonly rendezvous?: Rendezvous
  /** For 429: sent as `Retry-After` (rounded up to seconds) and `retry_after_ms`. */
  readonly retryAfterMs?: number
  /** For 405: the methods the path does allow. */
  readonly allow?: string
  /** Codes this dialect sends under other names (MSC4388's unstable path). */
  readonly errcodes?: ErrcodeNames
}

/**
 * A request refused on the way to its answer: thrown by whatever finds the problem (body reading,
 * content type, conditions, the create gate, JSON bodies) and answered by the guard with its
 * response. Handlers then deal in values and return only their happy answers. Not an `Error`: a
 * refusal is an answer, not a fault, and needs no stack trace.
 */
export class Refusal {
  readonly response: Response
  constructor(response: Response) {
    this.response = response
  }
}

/** Refuses the request with the JSON error of `kind`. */
export function refuse(kind: ErrorKind, options: ErrorResponseOptions = {}): never {
  throw new Refusal(errorResponse(kind, options))
}

/** A JSON error `{ errcode, error }` with the status of its kind (docs/protocol.md#errors). */
export function errorResponse(kind: ErrorKind, options: ErrorResponseOptions = {}): Response {
  const headers = options.rendezvous ? rendezvousHeaders(options.rendezvous) : commonHeaders()
  if (options.retryAfterMs !== undefined) headers.set(Header.retryAfter, String(Math.ceil(options.retryAfterMs / 1000)))
  if (options.allow !== undefined) headers.set(Header.allow, options.allow)
  return jsonResponse(ERRORS[kind].status, errorBody(kind, options), headers)
}

/**
 * Marks `response` as the last on its connection: sent when the request's body was left unread (or
 * a slow one may still be arriving), so the connection cannot carry another request.
 */
export function closing(response: Response): Response {
  response.headers.set(Header.connection, 'close')
  return response
}

const PREFLIGHT = new Headers(COMMON)
PREFLIGHT.set(Header.accessControlAllowMethods, CORS_ALLOW_METHODS)
PREFLIGHT.set(Header.accessControlAllowHeaders, CORS_ALLOW_HEADERS)
PREFLIGHT.set(Header.accessControlMaxAge, String(PREFLIGHT_MAX_AGE_SECONDS))

/** The answer to a CORS preflight, on any path. */
export function preflightResponse(): Response {
  return new Response(null, { status: 204, headers: PREFLIGHT })
}
