/**
 * @module MSC3886 final (docs/protocol.md#matrix-dialects): `POST` on its Matrix path answers `201 Created`
 * with an empty body and the session's absolute URL in `Location`. Sessions are the root dialect's
 * `/<id>`. Spoken by matrix-js-sdk 21.1.0-34.9.0 (`MSC3886SimpleHttpRendezvousTransport`) and
 * Element iOS.
 */

import { MSC3886_PATH } from '@rendezvous/protocol'
import type { DialectContext } from './context.ts'
import { createOnlyDialect } from './create.ts'

export function msc3886Dialect(context: DialectContext) {
  return createOnlyDialect(context, { path: MSC3886_PATH, dialect: 'msc3886', bodyType: null, body: () => null })
}
