/**
 * @module MSC4388 (docs/protocol.md#matrix-dialects): JSON bodies and sequence tokens over the same store as the
 * ETag dialects, under its stable path and its unstable one (which sends the MSC's unstable error
 * codes). A sequence token is our ETag without its quotes, so compare-and-swap, the exact-retry
 * rule, expiry and capacity are the store's.
 *
 * Writes come in two forms: `PUT /{id}` (MSC4388 as of its 2026-07 text: compare-and-swap on the
 * token, and a retry of the write that is current accepted as done) and `PUT /{id}/{txnId}` (the
 * newer revision: the same rules, and the answer given to each transaction id remembered for the
 * session's life and replayed on a repeat, 409s included).
 */

import {
  type ErrcodeNames,
  type ErrorKind,
  MSC4388_MAX_DATA_BYTES,
  MSC4388_PATHS,
  MSC4388_UNSTABLE_ERRCODES,
  Msc4388CreateRequest,
  type Msc4388CreateResponse,
  type Msc4388Discovery,
  type Msc4388ReadResponse,
  Msc4388UpdateRequest,
  type Msc4388UpdateResponse,
  etagOfSequenceToken,
  isBrowserNavigation,
  isOpaqueIdentifier,
  isRendezvousId,
  sequenceTokenOf,
  strongTagCondition,
} from '@rendezvous/protocol'
import { MAX_TRANSACTIONS_PER_RENDEZVOUS, type Rendezvous } from '@rendezvous/store'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { AnyElysia } from 'elysia'
import { readBodyWithin, readWriteBody } from '../body.ts'
import { bodyRefusedResponse } from '../payloads.ts'
import { type ErrorResponseOptions, Refusal, closing, errorResponse, jsonResponse } from '../responses.ts'
import { mount } from '../routing.ts'
import type { DialectContext } from './context.ts'

const CONTENT_TYPE = 'text/plain'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/** Bodies must be valid UTF-8: a decoder that replaced bad bytes would alter `data` silently. */
const strictDecoder = new TextDecoder('utf-8', { fatal: true })

/** The largest `data`, in UTF-8 bytes: the MSC's 4096, or less when `max_bytes` is lower. */
function msc4388DataLimit(maxBytes: number): number {
  return Math.min(MSC4388_MAX_DATA_BYTES, maxBytes)
}

/**
 * The largest JSON body read: room for `dataLimit` bytes of data even when every byte arrives
 * JSON-escaped (`\u00XX`, six bytes), plus the token and the keys.
 */
function msc4388BodyLimit(dataLimit: number): number {
  return dataLimit * 6 + 1024
}

export function msc4388Dialect(context: DialectContext) {
  const { store, config, guard, metrics, bodyDeadlines, createGate } = context
  const dataLimit = msc4388DataLimit(config.maxBytes)
  const bodyLimit = msc4388BodyLimit(dataLimit)

  /** The handlers of one base path; `errcodes` are the codes that path sends under other names. */
  function handlersFor(errcodes: ErrcodeNames | undefined) {
    const fail = (kind: ErrorKind, options: ErrorResponseOptions = {}) => errorResponse(kind, { ...options, errcodes })
    /** Refuses the request with this path's error of `kind`. */
    const refuseWith = (kind: ErrorKind, options: ErrorResponseOptions = {}): never => {
      throw new Refusal(fail(kind, options))
    }
    /** The store is at capacity: counted as a refusal, answered with when to try again. */
    const full = (retryAfterMs: number) => {
      metrics.refuse('capacity')
      return fail('server_full', { retryAfterMs })
    }

    async function discovery(request: Request, client: string | null): Promise<Response> {
      const mayCreate = await createGate.mayCreate(request, client)
      return jsonResponse(200, { create_available: mayCreate } satisfies Msc4388Discovery)
    }

    async function create(request: Request, client: string | null): Promise<Response> {
      await createGate.check(request, 'msc4388', client)
      const body = await readJson(request, Msc4388CreateRequest)
      const payload = encodeData(body.data)
      const result = await store.create({ payload, contentType: CONTENT_TYPE })
      if (!result.ok) return full(result.retryAfterMs)
      metrics.created('msc4388')
      const { rendezvous } = result
      const answer: Msc4388CreateResponse = { id: rendezvous.id, sequence_token: sequenceTokenOf(rendezvous.etag), expires_in_ms: expiresInMs(rendezvous) }
      return jsonResponse(200, answer)
    }

    async function read(request: Request, id: string): Promise<Response> {
      if (isBrowserNavigation(request.headers)) {
        return fail('forbidden', { detail: 'Rendezvous data is not served to browser navigations' })
      }
      const rendezvous = isRendezvousId(id) ? await store.get(id) : null
      if (!rendezvous) return fail('not_found')
      const answer: Msc4388ReadResponse = {
        data: decoder.decode(rendezvous.payload),
        sequence_token: sequenceTokenOf(rendezvous.etag),
        expires_in_ms: expiresInMs(rendezvous),
      }
      return jsonResponse(200, answer)
    }

    /** The body of either write form, ready for the store; a bad one is refused. */
    async function writeOf(request: Request, id: string) {
      if (!isRendezvousId(id)) refuseWith('not_found')
      const body = await readJson(request, Msc4388UpdateRequest, () => store.exists(id))
      if (!isOpaqueIdentifier(body.sequence_token)) refuseWith('invalid_param', { detail: 'sequence_token must be 1-255 characters of [0-9A-Za-z._~-]' })
      const payload = encodeData(body.data)
      return { payload, contentType: CONTENT_TYPE, ifMatch: strongTagCondition(etagOfSequenceToken(body.sequence_token)) }
    }

    /** `PUT /{id}`: compare-and-swap on the token; an exact retry is answered with the current token. */
    async function update(request: Request, id: string): Promise<Response> {
      const write = await writeOf(request, id)
      const result = await store.update(id, write)
      if (result.ok) return tokenResponse(result.rendezvous.etag)
      switch (result.reason) {
        case 'not_found':
          return fail('not_found')
        case 'etag_mismatch':
          return fail('sequence_conflict')
        case 'full':
          return full(result.retryAfterMs)
      }
    }

    /** `PUT /{id}/{txnId}`: as `update`, with each transaction's answer remembered and replayed. */
    async function updateWithTransactionId(request: Request, id: string, txnId: string): Promise<Response> {
      if (!isOpaqueIdentifier(txnId)) return fail('invalid_param', { detail: 'txnId must be 1-255 characters of [0-9A-Za-z._~-]' })
      const write = await writeOf(request, id)
      const result = await store.updateWithTransactionId(id, txnId, write)
      switch (result.kind) {
        case 'answered':
          return result.answer.kind === 'applied' ? tokenResponse(result.answer.etag) : fail('sequence_conflict')
        case 'not_found':
          return fail('not_found')
        case 'full':
          return full(result.retryAfterMs)
        case 'exhausted':
          // Permanent for this session: a 429 would have clients retry until it expires.
          return fail('forbidden', { detail: `This rendezvous has used all ${MAX_TRANSACTIONS_PER_RENDEZVOUS} transaction ids it may; start a new one` })
      }
    }

    async function remove(id: string): Promise<Response> {
      if (!isRendezvousId(id) || !(await store.delete(id))) return fail('not_found')
      metrics.deleted()
      return jsonResponse(200, {})
    }

    /** Reads and validates a JSON body; one too large, unreadable or not of the schema is refused. */
    async function readJson<T extends TSchema>(request: Request, schema: T, exists?: () => Promise<boolean>): Promise<Static<T>> {
      const body = exists ? await readWriteBody(request, bodyLimit, bodyDeadlines, exists) : await readBodyWithin(request, bodyLimit, bodyDeadlines)
      if (!body.ok) {
        if (body.reason === 'gone') throw new Refusal(closing(fail('not_found')))
        throw new Refusal(bodyRefusedResponse(body.reason, `Request body larger than ${bodyLimit} bytes`, context.onBodyTimeout))
      }
      let value: unknown
      try {
        value = JSON.parse(strictDecoder.decode(body.bytes))
      } catch {
        refuseWith('invalid_param', { detail: 'Request body is not valid UTF-8 JSON' })
      }
      if (!Value.Check(schema, value)) {
        const first = Value.Errors(schema, value).First()
        refuseWith('invalid_param', { detail: `Invalid request body${first ? ` at ${first.path || '/'}: ${first.message}` : ''}` })
      }
      return value
    }

    function encodeData(data: string): Uint8Array<ArrayBuffer> {
      // A lone surrogate has no UTF-8 form: encoding it would store U+FFFD in its place.
      if (!data.isWellFormed()) refuseWith('invalid_param', { detail: 'data must be well-formed Unicode (no lone surrogates)' })
      const bytes = encoder.encode(data) as Uint8Array<ArrayBuffer>
      if (bytes.byteLength > dataLimit) refuseWith('too_large', { detail: `data longer than ${dataLimit} UTF-8 bytes` })
      return bytes
    }

    return { discovery, create, read, update, updateWithTransactionId, remove }
  }

  return (app: AnyElysia) => {
    for (const base of MSC4388_PATHS) {
      const handlers = handlersFor(base.includes('/unstable/') ? MSC4388_UNSTABLE_ERRCODES : undefined)
      mount(app, guard, {
        path: base,
        label: base,
        methods: {
          // Under create auth, discovery may ask the homeserver about a token, so it spends what creating does.
          GET: {
            limiter: createGate.guards('msc4388') ? 'create' : 'general',
            handle: (request, { admission }) => handlers.discovery(request, admission.client),
          },
          POST: { limiter: 'create', handle: (request, { admission }) => handlers.create(request, admission.client) },
        },
      })
      mount(app, guard, {
        path: `${base}/:id`,
        label: `${base}/{id}`,
        methods: {
          GET: { limiter: 'general', handle: (request, { id }) => handlers.read(request, id) },
          PUT: { limiter: 'general', handle: (request, { id }) => handlers.update(request, id) },
          DELETE: { limiter: 'general', handle: (_request, { id }) => handlers.remove(id) },
        },
      })
      mount(app, guard, {
        path: `${base}/:id/:txnId`,
        label: `${base}/{id}/{txnId}`,
        methods: {
          PUT: { limiter: 'general', handle: (request, { id, txnId }) => handlers.updateWithTransactionId(request, id, txnId) },
        },
      })
    }
    return app
  }
}

// --- Internal helpers ---

function tokenResponse(etag: string): Response {
  const answer: Msc4388UpdateResponse = { sequence_token: sequenceTokenOf(etag) }
  return jsonResponse(200, answer)
}

function expiresInMs(rendezvous: Rendezvous): number {
  return Math.max(0, rendezvous.expiresAt - Date.now())
}
