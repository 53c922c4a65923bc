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

type Headers = Record<string, string>

/**
 * On every response: browsers may read it from any origin, nothing may cache or transform it, and
 * nothing in it may be sniffed as another type.
 */
function commonHeaders(): Headers {
  return {
    [Header.accessControlAllowOrigin]: '*',
    [Header.accessControlExposeHeaders]: CORS_EXPOSE_HEADERS,
    [Header.cacheControl]: NO_STORE,
    [Header.pragma]: 'no-cache',
    [Header.xContentTypeOptions]: 'nosniff',
    [Header.referrerPolicy]: 'no-referrer',
  }
}

/** Common headers plus what a client needs about a live rendezvous: ETag, Expires, Last-Modified. */
export function rendezvousHeaders(rendezvous: Rendezvous): Headers {
  const headers = commonHeaders()
  headers[Header.etag] = rendezvous.etag
  headers[Header.expires] = httpDate(rendezvous.expiresAt)
  headers[Header.lastModified] = httpDate(rendezvous.lastModified)
  return headers
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
 * `200 OK` with the payload bytes exactly and the stored content type verbatim. Payloads are
 * whatever a client wrote, so a browser opening one may run, load and frame nothing.
 */
export function payloadResponse(rendezvous: Rendezvous): Response {
  const headers = rendezvousHeaders(rendezvous)
  headers[Header.contentType] = rendezvous.contentType
  headers[Header.contentSecurityPolicy] = CONTENT_SECURITY_POLICY
  return new Response(rendezvous.payload, { status: 200, headers })
}

export function notModifiedResponse(rendezvous: Rendezvous): Response {
  return new Response(null, { status: 304, headers: rendezvousHeaders(rendezvous) })
}

/** `202 Accepted` for a PUT: empty, but typed so proxies keep the headers. */
export function acceptedResponse(rendezvous: Rendezvous): Response {
  const headers = rendezvousHeaders(rendezvous)
  headers[Header.contentType] = 'text/plain'
  return new Response('', { status: 202, headers })
}

export function noContentResponse(): Response {
  return new Response(null, { status: 204, headers: commonHeaders() })
}

export function jsonResponse(status: number, body: unknown, headers: Headers = commonHeaders()): Response {
  headers[Header.contentType] = 'application/json'
  return new Response(JSON.stringify(body), { status, headers })
}

export interface ErrorOptions {
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

/** A JSON error `{ errcode, error }` with the status of its kind (contract section 5). */
export function errorResponse(kind: ErrorKind, options: ErrorOptions = {}): Response {
  const headers = options.rendezvous ? rendezvousHeaders(options.rendezvous) : commonHeaders()
  if (options.retryAfterMs !== undefined) headers[Header.retryAfter] = String(Math.ceil(options.retryAfterMs / 1000))
  if (options.allow !== undefined) headers[Header.allow] = options.allow
  return jsonResponse(ERRORS[kind].status, errorBody(kind, options), headers)
}

/** The answer to a CORS preflight, on any path. */
export function preflightResponse(): Response {
  const headers = commonHeaders()
  headers[Header.accessControlAllowMethods] = CORS_ALLOW_METHODS
  headers[Header.accessControlAllowHeaders] = CORS_ALLOW_HEADERS
  headers[Header.accessControlMaxAge] = String(PREFLIGHT_MAX_AGE_SECONDS)
  return new Response(null, { status: 204, headers })
}
