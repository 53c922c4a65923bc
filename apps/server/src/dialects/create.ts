/**
 * @module The creation steps the three raw-payload dialects (seed, MSC3886, MSC4108) share. Each
 * dialect shapes its own answer from the result; the two Matrix ones that only create are built by
 * `createOnlyDialect`.
 */

import type { Rendezvous } from '@rendezvous/store'
import type { AnyElysia } from 'elysia'
import type { CreateDialect } from '../config.ts'
import { readBodyWithin } from '../body.ts'
import { contentTypeOf, payloadOf } from '../payloads.ts'
import { publicBaseUrl } from '../public-url.ts'
import { createdHeadersFor, refuse } from '../responses.ts'
import { type RouteContext, mount } from '../routing.ts'
import type { DialectContext } from './context.ts'

export interface Created {
  readonly rendezvous: Rendezvous
  /** The absolute URL of the new rendezvous, as the client will reach it. */
  readonly url: string
  /** The request's URL (reading `request.url` builds a new string each time). */
  readonly requestUrl: string
}

/**
 * Creates a rendezvous from a raw request body: the create gate, the Content-Type, a URL the client
 * can use (known before the body is read, so a request without `Host` costs nothing), the body
 * within `max_bytes`, and the store's capacity.
 */
export async function createFromBody(
  context: DialectContext,
  request: Request,
  { server, admission }: Pick<RouteContext, 'server' | 'admission'>,
  dialect: CreateDialect,
): Promise<Created> {
  const { store, config, createGate, bodyDeadlines, metrics } = context
  await createGate.check(request, dialect, admission.client)
  const contentType = contentTypeOf(request)
  // The peer only matters when it might be a trusted proxy.
  const peerAddress = config.trustProxy.kind === 'off' ? null : (server?.requestIP(request)?.address ?? null)
  const requestUrl = request.url
  const base = publicBaseUrl(requestUrl, request.headers, config, peerAddress)
  if (base === null) refuse('invalid_param', { detail: 'Missing Host header: cannot build the rendezvous URL' })
  const payload = payloadOf(await readBodyWithin(request, config.maxBytes, bodyDeadlines), config.maxBytes, context.onBodyTimeout)
  const result = await store.create({ payload, contentType })
  if (!result.ok) {
    metrics.refuse('capacity')
    refuse('server_full', { retryAfterMs: result.retryAfterMs })
  }
  metrics.created(dialect)
  return { rendezvous: result.rendezvous, url: `${base}${config.prefix}${result.rendezvous.id}`, requestUrl }
}

export interface CreateOnlyDialect {
  /** The Matrix path its `POST` is served on. */
  readonly path: string
  readonly dialect: CreateDialect
  /** The `Content-Type` of the 201's body, or null when it has none. */
  readonly bodyType: string | null
  /** The 201's body for the new session's absolute URL, or null for none. */
  readonly body: (url: string) => string | null
}

/**
 * A Matrix dialect that only creates (MSC3886, MSC4108): `POST` on its path answers `201 Created`
 * with the session's absolute URL in `Location`. Its sessions are the root dialect's `/<id>`.
 */
export function createOnlyDialect(context: DialectContext, { path, dialect, bodyType, body }: CreateOnlyDialect) {
  const createdHeaders = createdHeadersFor(context.config.maxBytes, bodyType)
  return (app: AnyElysia) => {
    mount(app, context.guard, {
      path,
      label: path,
      methods: {
        POST: {
          limiter: 'create',
          async handle(request, route) {
            const created = await createFromBody(context, request, route, dialect)
            return new Response(body(created.url), { status: 201, headers: createdHeaders(created.rendezvous, created.url) })
          },
        },
      },
    })
    return app
  }
}
