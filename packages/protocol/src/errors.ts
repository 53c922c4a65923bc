/**
 * @module The closed set of errors the server answers with, and the one table that maps each to
 * its HTTP status and Matrix `errcode` (docs/protocol.md#errors).
 */

import type { ErrorBody } from './schemas.ts'

/** Every Matrix error code we put on the wire. */
export const ErrorCode = {
  NOT_FOUND: 'M_NOT_FOUND',
  TOO_LARGE: 'M_TOO_LARGE',
  LIMIT_EXCEEDED: 'M_LIMIT_EXCEEDED',
  FORBIDDEN: 'M_FORBIDDEN',
  CONCURRENT_WRITE: 'M_CONCURRENT_WRITE',
  INVALID_PARAM: 'M_INVALID_PARAM',
  MISSING_PARAM: 'M_MISSING_PARAM',
  UNRECOGNIZED: 'M_UNRECOGNIZED',
  UNKNOWN: 'M_UNKNOWN',
  MISSING_TOKEN: 'M_MISSING_TOKEN',
  UNKNOWN_TOKEN: 'M_UNKNOWN_TOKEN',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/**
 * Why a request failed. Kinds, not codes, are what the server raises: two kinds can share a Matrix
 * code with different statuses (an unknown route is 404, an unknown method 405).
 */
export const ERRORS = {
  not_found: { status: 404, errcode: ErrorCode.NOT_FOUND, message: 'Rendezvous not found' },
  unknown_route: { status: 404, errcode: ErrorCode.UNRECOGNIZED, message: 'Unrecognized request' },
  method_not_allowed: { status: 405, errcode: ErrorCode.UNRECOGNIZED, message: 'Method not allowed' },
  precondition_failed: { status: 412, errcode: ErrorCode.CONCURRENT_WRITE, message: 'ETag does not match' },
  sequence_conflict: { status: 409, errcode: ErrorCode.CONCURRENT_WRITE, message: 'Sequence token is not current' },
  missing_token: { status: 401, errcode: ErrorCode.MISSING_TOKEN, message: 'Creating a rendezvous needs an access token' },
  unknown_token: { status: 401, errcode: ErrorCode.UNKNOWN_TOKEN, message: 'Access token not accepted' },
  too_large: { status: 413, errcode: ErrorCode.TOO_LARGE, message: 'Payload too large' },
  rate_limited: { status: 429, errcode: ErrorCode.LIMIT_EXCEEDED, message: 'Too many requests' },
  server_full: { status: 429, errcode: ErrorCode.LIMIT_EXCEEDED, message: 'Server at capacity, try again later' },
  request_timeout: { status: 408, errcode: ErrorCode.UNKNOWN, message: 'Request body not received in time' },
  forbidden: { status: 403, errcode: ErrorCode.FORBIDDEN, message: 'Forbidden by server policy' },
  invalid_param: { status: 400, errcode: ErrorCode.INVALID_PARAM, message: 'Invalid request' },
  missing_param: { status: 400, errcode: ErrorCode.MISSING_PARAM, message: 'Missing parameter' },
  service_unavailable: { status: 503, errcode: ErrorCode.UNKNOWN, message: 'Service temporarily unavailable, try again shortly' },
  internal: { status: 500, errcode: ErrorCode.UNKNOWN, message: 'Internal server error' },
} as const satisfies Record<string, { status: number; errcode: ErrorCode; message: string }>
export type ErrorKind = keyof typeof ERRORS

/** MSC4108 clients read their own namespaced code on a 412. */
export const MSC4108_ERRCODE_FIELD = 'org.matrix.msc4108.errcode'

/** Error codes a dialect sends under another name: an MSC's unstable codes on its unstable path. */
export type ErrcodeNames = Readonly<Partial<Record<ErrorCode, string>>>

/**
 * MSC4388's unstable codes (its "Unstable prefix" section), sent on its unstable path only; the
 * stable path keeps the `M_` codes. The MSC namespaces exactly one code.
 */
export const MSC4388_UNSTABLE_ERRCODES: ErrcodeNames = {
  [ErrorCode.CONCURRENT_WRITE]: 'IO_ELEMENT_MSC4388_CONCURRENT_WRITE',
}

export interface ErrorBodyOptions {
  /** Replaces the default message of the kind. */
  readonly detail?: string
  /** Added for 429s. */
  readonly retryAfterMs?: number
  /** Codes to send under another name (see `MSC4388_UNSTABLE_ERRCODES`). */
  readonly errcodes?: ErrcodeNames
}

/** Builds the JSON error body for `kind`. */
export function errorBody(kind: ErrorKind, { detail, retryAfterMs, errcodes }: ErrorBodyOptions = {}): ErrorBody {
  const { errcode, message } = ERRORS[kind]
  const body: ErrorBody = { errcode: errcodes?.[errcode] ?? errcode, error: detail ?? message }
  if (retryAfterMs !== undefined) body.retry_after_ms = retryAfterMs
  if (kind === 'precondition_failed') body[MSC4108_ERRCODE_FIELD] = errcode
  return body
}
