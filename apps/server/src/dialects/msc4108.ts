/**
 * @module MSC4108 (2024, docs/protocol.md#matrix-dialects): `POST` on its Matrix path answers `201 Created`
 * with JSON `{"url"}`. Sessions are the root dialect's `/<id>`. Spoken by matrix-js-sdk >= 33.1.0
 * (`MSC4108RendezvousSession`), matrix-rust-sdk / Element X, and Synapse's delegation.
 */

import { MSC4108_PATH, type Msc4108CreateResponse } from '@rendezvous/protocol'
import type { DialectContext } from './context.ts'
import { createOnlyDialect } from './create.ts'

export function msc4108Dialect(context: DialectContext) {
  return createOnlyDialect(context, {
    path: MSC4108_PATH,
    dialect: 'msc4108',
    bodyType: 'application/json',
    body: (url) => JSON.stringify({ url } satisfies Msc4108CreateResponse),
  })
}
