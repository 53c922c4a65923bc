/**
 * @module MSC4108 (2024, contract section 10 C): `POST` on its Matrix path answers `201 Created`
 * with JSON `{"url"}`. Sessions are the root dialect's `/<id>`. Spoken by matrix-js-sdk >= 33.1.0
 * (`MSC4108RendezvousSession`), matrix-rust-sdk / Element X, and Synapse's delegation.
 */

import { MSC4108_PATH, type Msc4108CreateResponse } from '@rendezvous/protocol'
import type { AnyElysia } from 'elysia'
import { createdHeadersFor } from '../responses.ts'
import { mount } from '../routing.ts'
import { type DialectContext, createFromBody } from './shared.ts'

export function msc4108Dialect(context: DialectContext) {
  const createdHeaders = createdHeadersFor(context.config.maxBytes, 'application/json')
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
            const body: Msc4108CreateResponse = { url: created.url }
            return new Response(JSON.stringify(body), { status: 201, headers: createdHeaders(created.rendezvous, created.url) })
          },
        },
      },
    })
    return app
  }
}
