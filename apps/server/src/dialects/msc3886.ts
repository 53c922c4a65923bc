/**
 * @module MSC3886 final (contract section 10 B): `POST` on its Matrix path answers `201 Created`
 * with an empty body and the session's absolute URL in `Location`. Sessions are the root dialect's
 * `/<id>`. Spoken by matrix-js-sdk 21.1.0-34.9.0 (`MSC3886SimpleHttpRendezvousTransport`) and
 * Element iOS.
 */

import { MSC3886_PATH } from '@rendezvous/protocol'
import type { AnyElysia } from 'elysia'
import { createdHeadersFor } from '../responses.ts'
import { mount } from '../routing.ts'
import { type DialectContext, createFromBody } from './shared.ts'

export function msc3886Dialect(context: DialectContext) {
  const createdHeaders = createdHeadersFor(context.config.maxBytes, null)
  return (app: AnyElysia) => {
    mount(app, context.guard, {
      path: MSC3886_PATH,
      label: MSC3886_PATH,
      methods: {
        POST: {
          limiter: 'create',
          async handle(request, { server }) {
            const created = await createFromBody(context, request, server, 'msc3886')
            if (created instanceof Response) return created
            return new Response(null, { status: 201, headers: createdHeaders(created.rendezvous, created.url) })
          },
        },
      },
    })
    return app
  }
}
