/**
 * @module How a dialect declares its routes: a path, a label for metrics, and what each method does.
 * `mount` gives every route the same treatment, so no route can forget it: a CORS preflight
 * answered on every path, `405` with an `Allow` header built from the methods it declares, and the
 * guard around everything else.
 */

import type { AnyElysia } from 'elysia'
import type { Admission, Guard, LimiterKind, Server } from './guard.ts'
import { errorResponse } from './responses.ts'

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE'

export interface RouteContext {
  /** The `:id` path parameter; empty when the path has none. */
  readonly id: string
  /** The `:txnId` path parameter; empty when the path has none. */
  readonly txnId: string
  readonly server: Server
  /** The guard's admission of this request: a long-poll holds through it. */
  readonly admission: Admission
}

export interface Endpoint {
  /** The rate budget the request spends. */
  readonly limiter: LimiterKind
  readonly handle: (request: Request, context: RouteContext) => Promise<Response> | Response
}

export interface RouteSpec {
  /** Elysia path; `:id` names the rendezvous, `:txnId` a transaction. */
  readonly path: string
  /** The route as metrics and logs name it: a template, never a concrete id. */
  readonly label: string
  /** What each method does, in the order `Allow` lists them. */
  readonly methods: Readonly<Partial<Record<Method, Endpoint>>>
}

/** Bodies are read by our own size-limited reader, never parsed by the framework. */
const RAW_BODY = { parse: 'none' } as const

/** Registers `spec` on `app`; every method of the path, declared or not, gets an answer. */
export function mount(app: AnyElysia, guard: Guard, spec: RouteSpec): void {
  const { path, label, methods } = spec
  const allow = [...Object.keys(methods), 'OPTIONS'].join(', ')
  const notAllowed = () => errorResponse('method_not_allowed', { allow })
  // Only `id` names a rendezvous: the log line hashes it, a refusal carries its ETag.
  const namesRendezvous = path.includes(':id')
  // Elysia reads which context fields a handler destructures and prepares only those.
  const handlerFor =
    (endpoint: Endpoint) =>
    ({ request, server, params }: HandlerArgs): Promise<Response> => {
      const id = params?.['id'] ?? ''
      const txnId = params?.['txnId'] ?? ''
      return guard.run(request, server, label, endpoint.limiter, namesRendezvous ? id : null, (admission) =>
        endpoint.handle(request, { id, txnId, server, admission }),
      )
    }
  const leftovers = ({ request, server, params }: HandlerArgs): Promise<Response> =>
    guard.run(request, server, label, 'general', namesRendezvous ? (params?.['id'] ?? '') : null, notAllowed)
  // One route per declared method and one for OPTIONS, so Bun's own router dispatches them; every
  // other method of the path falls through to one catch-all.
  for (const [method, endpoint] of Object.entries(methods) as [Method, Endpoint][]) {
    app.route(method, path, handlerFor(endpoint) as unknown as ElysiaHandler, RAW_BODY)
  }
  app.options(path, () => guard.preflight())
  app.all(path, leftovers as unknown as ElysiaHandler, RAW_BODY)
}

/** The paths are built at run time, so Elysia cannot type the context for them. */
type ElysiaHandler = (context: Record<string, unknown>) => Response | Promise<Response>

/** The part of Elysia's context `dispatch` uses. Static paths get no `params` at all. */
interface HandlerArgs {
  readonly request: Request
  readonly server: Server
  readonly params?: Readonly<Record<string, string | undefined>>
}
