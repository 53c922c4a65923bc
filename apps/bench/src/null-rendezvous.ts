/**
 * @module The do-nothing rendezvous: the least a Bun server can do and still carry the login
 * exchange the handshake and hold scenarios drive — a Map of payloads, an ETag counter,
 * If-None-Match / If-Match, `Prefer: wait` long-poll, DELETE — and nothing else (no limits, no
 * expiry, no metrics, no logs, no CORS, no validation). Driven the same way as our server, its CPU
 * per handshake is the floor ours is compared with.
 */

interface Entry {
  payload: Uint8Array<ArrayBuffer>
  etag: string
  readonly waiters: Set<(entry: Entry | null) => void>
}

const entries = new Map<string, Entry>()
let counter = 0
const prefix = crypto.randomUUID().slice(0, 8)

function wake(entry: Entry, next: Entry | null): void {
  for (const waiter of entry.waiters) waiter(next)
  entry.waiters.clear()
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.argv[2] ?? 0),
  idleTimeout: 120,
  async fetch(request) {
    const path = new URL(request.url).pathname
    if (path === '/health') return new Response('ok')
    const method = request.method
    if (path === '/' && method === 'POST') {
      const id = crypto.randomUUID()
      const entry: Entry = { payload: await request.bytes(), etag: `"${prefix}.${++counter}"`, waiters: new Set() }
      entries.set(id, entry)
      return Response.json({ id, max_bytes: 10240, url: `http://${request.headers.get('host')}/${id}` }, { headers: { etag: entry.etag } })
    }
    const id = path.slice(1)
    const entry = entries.get(id)
    if (!entry) return new Response(null, { status: 404 })
    switch (method) {
      case 'GET': {
        if (request.headers.get('if-none-match') !== entry.etag) return new Response(entry.payload, { headers: { etag: entry.etag } })
        const wait = /wait=(\d+)/.exec(request.headers.get('prefer') ?? '')
        if (!wait) return new Response(null, { status: 304, headers: { etag: entry.etag } })
        const next = await new Promise<Entry | null | 'timeout'>((resolve) => {
          const timer = setTimeout(() => {
            entry.waiters.delete(waiter)
            resolve('timeout')
          }, Number(wait[1]) * 1000)
          const waiter = (changed: Entry | null) => {
            clearTimeout(timer)
            resolve(changed)
          }
          entry.waiters.add(waiter)
        })
        if (next === null) return new Response(null, { status: 404 })
        if (next === 'timeout') return new Response(null, { status: 304, headers: { etag: entry.etag } })
        return new Response(next.payload, { headers: { etag: next.etag } })
      }
      case 'PUT': {
        const ifMatch = request.headers.get('if-match')
        if (ifMatch !== null && ifMatch !== entry.etag) return new Response(null, { status: 412, headers: { etag: entry.etag } })
        entry.payload = await request.bytes()
        entry.etag = `"${prefix}.${++counter}"`
        wake(entry, entry)
        return new Response(null, { status: 202, headers: { etag: entry.etag } })
      }
      case 'DELETE':
        entries.delete(id)
        wake(entry, null)
        return new Response(null, { status: 204 })
      default:
        return new Response(null, { status: 405 })
    }
  },
})
console.log(`null rendezvous listening http://127.0.0.1:${server.port}/`)
process.on('SIGTERM', () => {
  void server.stop(true)
  process.exit(0)
})
