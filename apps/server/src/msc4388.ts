/**
 * @module The MSC4388 dialect (contract section 10 D): JSON bodies and sequence tokens over the
 * same store as the root dialect. A sequence token is our ETag without its quotes, so the
 * compare-and-swap, expiry and capacity rules are the root dialect's.
 */

import {
  MSC4388_MAX_DATA_BYTES,
  Msc4388CreateRequest,
  type Msc4388CreateResponse,
  type Msc4388Discovery,
  type Msc4388ReadResponse,
  Msc4388UpdateRequest,
  type Msc4388UpdateResponse,
  type EntityTagCondition,
  Header,
  etagOfSequenceToken,
  isBrowserNavigation,
  isOpaqueIdentifier,
  isRendezvousId,
  sequenceTokenOf,
} from '@rendezvous/protocol'
import type { Rendezvous, RendezvousStore } from '@rendezvous/store'
import type { TSchema, Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { type BodyDeadlines, readBodyWithin } from './body.ts'
import { bodyRefusedResponse } from './rendezvous.ts'
import { errorResponse, jsonResponse } from './responses.ts'

/** Room for 4096 bytes of data even when every character is JSON-escaped, plus the token. */
const MAX_JSON_BODY_BYTES = MSC4388_MAX_DATA_BYTES * 6 + 1024
const CONTENT_TYPE = 'text/plain'

export interface Msc4388Options {
  readonly bodyDeadlines: BodyDeadlines
  /** Bearer tokens allowed to create, or null when creation is open. */
  readonly createTokens: ReadonlySet<string> | null
  readonly onRefusal: (reason: 'capacity' | 'body_timeout') => void
}

export interface Msc4388Handlers {
  discovery(): Response
  create(request: Request): Promise<Response>
  read(request: Request, id: string): Promise<Response>
  update(request: Request, id: string): Promise<Response>
  remove(id: string): Promise<Response>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function msc4388Handlers(store: RendezvousStore, { bodyDeadlines, createTokens, onRefusal }: Msc4388Options): Msc4388Handlers {
  function discovery(): Response {
    return jsonResponse(200, { create_available: true } satisfies Msc4388Discovery)
  }

  async function create(request: Request): Promise<Response> {
    const denied = authorize(request, createTokens)
    if (denied) return denied
    const body = await readJson(request, Msc4388CreateRequest)
    if (body instanceof Response) return body
    const payload = encodeData(body.data)
    if (payload instanceof Response) return payload
    const result = await store.create({ payload, contentType: CONTENT_TYPE })
    if (!result.ok) {
      onRefusal('capacity')
      return errorResponse('server_full', { retryAfterMs: result.retryAfterMs })
    }
    const { rendezvous } = result
    const answer: Msc4388CreateResponse = { id: rendezvous.id, sequence_token: sequenceTokenOf(rendezvous.etag), expires_in_ms: expiresInMs(rendezvous) }
    return jsonResponse(200, answer)
  }

  async function read(request: Request, id: string): Promise<Response> {
    if (isBrowserNavigation(request.headers)) {
      return errorResponse('forbidden', { detail: 'Rendezvous data is not served to browser navigations' })
    }
    const rendezvous = isRendezvousId(id) ? await store.get(id) : null
    if (!rendezvous) return errorResponse('not_found')
    const answer: Msc4388ReadResponse = {
      data: decoder.decode(rendezvous.payload),
      sequence_token: sequenceTokenOf(rendezvous.etag),
      expires_in_ms: expiresInMs(rendezvous),
    }
    return jsonResponse(200, answer)
  }

  async function update(request: Request, id: string): Promise<Response> {
    if (!isRendezvousId(id) || !(await store.get(id))) return errorResponse('not_found')
    const body = await readJson(request, Msc4388UpdateRequest)
    if (body instanceof Response) return body
    if (!isOpaqueIdentifier(body.sequence_token)) {
      return errorResponse('invalid_param', { detail: 'sequence_token must be 1-255 characters of [0-9A-Za-z._~-]' })
    }
    const payload = encodeData(body.data)
    if (payload instanceof Response) return payload
    const etag = etagOfSequenceToken(body.sequence_token)
    const ifMatch: EntityTagCondition = { kind: 'tags', tags: [{ weak: false, opaque: etag }] }
    const result = await store.update(id, { payload, contentType: CONTENT_TYPE, ifMatch })
    if (result.ok) return tokenResponse(result.rendezvous)
    switch (result.reason) {
      case 'not_found':
        return errorResponse('not_found')
      case 'etag_mismatch':
        // A client whose write landed but whose answer was lost sends it again: same data, the
        // token it held before. It gets the current token, and nothing changes.
        if (result.current.previousEtag === etag && sameBytes(result.current.payload, payload)) return tokenResponse(result.current)
        return errorResponse('sequence_conflict')
      case 'full':
        onRefusal('capacity')
        return errorResponse('server_full', { retryAfterMs: result.retryAfterMs })
    }
  }

  async function remove(id: string): Promise<Response> {
    if (!isRendezvousId(id) || !(await store.delete(id))) return errorResponse('not_found')
    return jsonResponse(200, {})
  }

  /** Reads and validates a JSON body; a Response when it is too large, unreadable, or not the schema. */
  async function readJson<T extends TSchema>(request: Request, schema: T): Promise<Static<T> | Response> {
    const body = await readBodyWithin(request, MAX_JSON_BODY_BYTES, bodyDeadlines)
    if (!body.ok) return bodyRefusedResponse(body.reason, `Request body larger than ${MAX_JSON_BODY_BYTES} bytes`, onRefusal)
    let value: unknown
    try {
      value = JSON.parse(decoder.decode(body.bytes))
    } catch {
      return errorResponse('invalid_param', { detail: 'Request body is not valid JSON' })
    }
    if (!Value.Check(schema, value)) {
      const first = Value.Errors(schema, value).First()
      return errorResponse('invalid_param', { detail: `Invalid request body${first ? ` at ${first.path || '/'}: ${first.message}` : ''}` })
    }
    return value
  }

  return { discovery, create, read, update, remove }
}

// --- Internal helpers ---

/** Null when creation is open or the bearer token is accepted; else the 401 to send. */
function authorize(request: Request, tokens: ReadonlySet<string> | null): Response | null {
  if (tokens === null) return null
  const header = request.headers.get(Header.authorization)
  const match = header === null ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (!match) return errorResponse('missing_token')
  return tokens.has(match[1]!) ? null : errorResponse('unknown_token')
}

function encodeData(data: string): Uint8Array<ArrayBuffer> | Response {
  const bytes = encoder.encode(data) as Uint8Array<ArrayBuffer>
  if (bytes.byteLength > MSC4388_MAX_DATA_BYTES) {
    return errorResponse('too_large', { detail: `data longer than ${MSC4388_MAX_DATA_BYTES} UTF-8 bytes` })
  }
  return bytes
}

function tokenResponse(rendezvous: Rendezvous): Response {
  const answer: Msc4388UpdateResponse = { sequence_token: sequenceTokenOf(rendezvous.etag) }
  return jsonResponse(200, answer)
}

function expiresInMs(rendezvous: Rendezvous): number {
  return Math.max(0, rendezvous.expiresAt - Date.now())
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
