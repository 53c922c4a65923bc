/**
 * @module Raw payloads as the ETag dialects send them: the Content-Type stored beside them, the body
 * read within `max_bytes`, and the answer to a body we would not or could not read.
 */

import { DEFAULT_CONTENT_TYPE, Header } from '@rendezvous/protocol'
import type { BodyRefusal, BodyResult } from './body.ts'
import { Refusal, closing, errorResponse, refuse } from './responses.ts'

/** Longest Content-Type we store. It is held beside the payload, so it must be bounded too. */
const MAX_CONTENT_TYPE_LENGTH = 255

/** The request's Content-Type verbatim (default octet-stream); refused (400) when unreasonably long. */
export function contentTypeOf(request: Request): string {
  const value = request.headers.get(Header.contentType)
  if (value === null || value === '') return DEFAULT_CONTENT_TYPE
  if (value.length <= MAX_CONTENT_TYPE_LENGTH) return value
  return refuse('invalid_param', { detail: `Content-Type longer than ${MAX_CONTENT_TYPE_LENGTH} characters` })
}

/** The payload of a body read within `maxBytes`; a body that was not is refused. */
export function payloadOf(body: BodyResult, maxBytes: number, onTimeout: () => void): Uint8Array<ArrayBuffer> {
  if (body.ok) return body.bytes
  throw new Refusal(bodyRefusedResponse(body.reason, tooLargeDetail(maxBytes), onTimeout))
}

/** The answer to a body we would not or could not read; a timeout is also counted as a refusal. */
export function bodyRefusedResponse(reason: BodyRefusal, tooLargeMessage: string, onTimeout: () => void): Response {
  switch (reason) {
    case 'too_large':
      return errorResponse('too_large', { detail: tooLargeMessage })
    case 'timeout': {
      onTimeout()
      // The rest of the body may still trickle in: the connection cannot carry another request.
      return closing(errorResponse('request_timeout'))
    }
    case 'unreadable':
      return errorResponse('invalid_param', { detail: 'Request body could not be read' })
  }
}

export function tooLargeDetail(maxBytes: number): string {
  return `Payload larger than ${maxBytes} bytes`
}
