/**
 * @module The minimal Elysia comparison: an Elysia app that does what our server does for one
 * operation, from a Map, with the same ETag, Expires, Last-Modified, CORS and cache headers, and
 * nothing else (no limits, metrics, logs, validation, long-poll or expiry). `ops --minimal` runs it
 * in the alternating rounds beside ours and the bare ceiling: the gap between it and ours is what
 * our guarantees cost, the gap between it and the ceiling what Elysia and the headers cost.
 */

import { Elysia } from 'elysia'

interface Entry {
  payload: Uint8Array<ArrayBuffer>
  etag: string
  contentType: string
  readonly created: number
}

const COMMON = new Headers({
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'ETag, Expires, Last-Modified, Location, X-Max-Bytes, Retry-After, Preference-Applied',
  'cache-control': 'no-store, no-transform',
  pragma: 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
})
const entries = new Map<string, Entry>()
let counter = 0
const prefix = crypto.randomUUID().slice(0, 8)

function headersOf(entry: Entry, contentType?: string): Headers {
  const headers = new Headers(COMMON)
  headers.set('etag', entry.etag)
  headers.set('expires', new Date(entry.created + 120_000).toUTCString())
  headers.set('last-modified', new Date(entry.created).toUTCString())
  if (contentType) headers.set('content-type', contentType)
  return headers
}

new Elysia()
  .get('/health', () => new Response('ok'))
  .post(
    '/',
    async ({ request }) => {
      const id = crypto.randomUUID().replaceAll('-', '').slice(0, 22)
      const entry: Entry = {
        payload: await request.bytes(),
        etag: `"${prefix}.${++counter}"`,
        contentType: request.headers.get('content-type') ?? 'application/octet-stream',
        created: Date.now(),
      }
      entries.set(id, entry)
      const headers = headersOf(entry, 'application/json')
      headers.set('location', id)
      headers.set('x-max-bytes', '10240')
      return new Response(JSON.stringify({ id, max_bytes: 10240, url: `http://${request.headers.get('host')}/${id}` }), { headers })
    },
    { parse: 'none' },
  )
  .get('/:id', ({ request, params }) => {
    const entry = entries.get(params.id)
    if (!entry) return new Response('{"errcode":"M_NOT_FOUND"}', { status: 404 })
    if (request.headers.get('if-none-match') === entry.etag) return new Response(null, { status: 304, headers: headersOf(entry) })
    return new Response(entry.payload, { headers: headersOf(entry, entry.contentType) })
  })
  .put(
    '/:id',
    async ({ request, params }) => {
      const entry = entries.get(params.id)
      if (!entry) return new Response('{"errcode":"M_NOT_FOUND"}', { status: 404 })
      const ifMatch = request.headers.get('if-match')
      if (ifMatch !== null && ifMatch !== entry.etag) return new Response('{"errcode":"M_CONCURRENT_WRITE"}', { status: 412, headers: headersOf(entry) })
      entry.payload = await request.bytes()
      entry.etag = `"${prefix}.${++counter}"`
      return new Response('', { status: 202, headers: headersOf(entry, 'text/plain') })
    },
    { parse: 'none' },
  )
  .delete('/:id', ({ params }) => new Response(null, { status: entries.delete(params.id) ? 204 : 404, headers: COMMON }))
  .listen({ hostname: '127.0.0.1', port: Number(process.argv[2] ?? 0) })

process.on('SIGTERM', () => process.exit(0))
