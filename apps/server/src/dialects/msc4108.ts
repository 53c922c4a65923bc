/**
 * @module MSC4108 (2024, contract section 10 C): `POST` on its Matrix path answers `201 Created`
 * with JSON `{"url"}`. Sessions are the root dialect's `/<id>`. Spoken by matrix-js-sdk >= 33.1.0
 * (`MSC4108RendezvousSession`), matrix-rust-sdk / Element X, and Synapse's delegation.
 */

import { Header, MSC4108_PATH } from '@rendezvous/protocol'
import type { AnyElysia } from 'elysia'
import { jsonResponse, rendezvousHeaders } from '../responses.ts'
import { mount } from '../routing.ts'
import { type DialectContext, createFromBody } from './shared.ts'

export function msc4108Dialect(context: DialectContext) {
  return (app: AnyElysia) => {
    mount(app, context.guard, {
      path: MSC4108_PATH,
      label: MSC4108_PATH,
      methods: {
        POST: {
          limiter: 'create',
          async handle(request, { server }) {
            const created = await createFromBody(context, request, server, 'msc4108')
            if (created instanceof Response) return created
            const headers = rendezvousHeaders(created.rendezvous)
            headers.set(Header.xMaxBytes, String(context.config.maxBytes))
            headers.set(Header.location, created.url)
            return jsonResponse(201, { url: created.url }, headers)
          },
        },
      },
    })
    return app
  }
}
