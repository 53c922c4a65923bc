/**
 * @module TypeBox schemas of every JSON body on the wire. Each schema is also its type: `Static`
 * gives the TypeScript type under the same name, so there is no hand-written twin to drift.
 */

import { Type, type Static } from '@sinclair/typebox'

/** Rendezvous ids: 128 random bits in base64url, exactly 22 characters. */
export const RENDEZVOUS_ID_PATTERN = '^[A-Za-z0-9_-]{22}$'
const RENDEZVOUS_ID = new RegExp(RENDEZVOUS_ID_PATTERN)

/** True when `text` has the shape of an id this server issues. */
export function isRendezvousId(text: string): boolean {
  return RENDEZVOUS_ID.test(text)
}

/** `200 OK` body of `POST /` (seed dialect). */
export const CreateResponse = Type.Object(
  {
    id: Type.String({ pattern: RENDEZVOUS_ID_PATTERN }),
    max_bytes: Type.Integer({ minimum: 0 }),
    url: Type.String({ pattern: '^https?://' }),
  },
  { additionalProperties: false },
)
export type CreateResponse = Static<typeof CreateResponse>

/** `201 Created` body of the MSC4108 create (docs/protocol.md#matrix-dialects). */
export const Msc4108CreateResponse = Type.Object({ url: Type.String({ pattern: '^https?://' }) }, { additionalProperties: false })
export type Msc4108CreateResponse = Static<typeof Msc4108CreateResponse>

/** Body of every 4xx/5xx answer: the Matrix error shape. */
export const ErrorBody = Type.Object({
  // `M_…`, or a namespaced unstable code such as `IO_ELEMENT_MSC4388_CONCURRENT_WRITE`.
  errcode: Type.String({ pattern: '^[A-Z][A-Z0-9_]*$' }),
  error: Type.String(),
  retry_after_ms: Type.Optional(Type.Integer({ minimum: 0 })),
  'org.matrix.msc4108.errcode': Type.Optional(Type.String()),
})
export type ErrorBody = Static<typeof ErrorBody>

/**
 * `GET <prefix>_rendezvous/info`: what the server is and the settings a client or the doctor
 * needs to know. No secrets: no addresses, tokens or store URLs.
 */
export const ServerInfo = Type.Object(
  {
    server: Type.Literal('rendezvous'),
    version: Type.String(),
    prefix: Type.String(),
    max_bytes: Type.Integer({ minimum: 0 }),
    max_wait_seconds: Type.Integer({ minimum: 0 }),
    ttl_seconds: Type.Integer({ minimum: 1 }),
    store: Type.Union([Type.Literal('memory'), Type.Literal('redis')]),
    create_auth: Type.Union([Type.Literal('off'), Type.Literal('file'), Type.Literal('homeserver')]),
    create_auth_open: Type.Array(Type.String()),
    trust_proxy: Type.Union([Type.Literal('off'), Type.Literal('hops'), Type.Literal('addresses')]),
    public_base_url: Type.Union([Type.String(), Type.Null()]),
    /**
     * Redis's `maxmemory-policy` (`noeviction` is the only safe one), `unknown` when Redis would
     * not say, null for the memory store or before Redis answered. Absent before 0.3.0.
     */
    store_eviction_policy: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    /** With Redis: `single`, `sentinel` or `cluster`; null for the memory store. Absent before 0.3.0. */
    store_topology: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  },
  { additionalProperties: false },
)
export type ServerInfo = Static<typeof ServerInfo>

/** Body of `GET /health` and `GET /ready`. */
export const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('ready'), Type.Literal('draining'), Type.Literal('store_unavailable')]),
})
export type HealthResponse = Static<typeof HealthResponse>
