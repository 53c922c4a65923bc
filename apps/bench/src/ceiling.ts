/**
 * @module The ceiling: the least a Bun HTTP server can do per request. GET answers "ok"; any other
 * method reads the body and answers 202. `ops --ceiling` runs the same load against it, so every
 * throughput figure can be stated as a fraction of what Bun itself does on the same machine.
 */

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.argv[2] ?? 0),
  async fetch(request) {
    if (request.method === 'GET' || request.method === 'HEAD') return new Response('ok')
    await request.arrayBuffer()
    return new Response(null, { status: 202 })
  },
})
console.log(`ceiling listening http://127.0.0.1:${server.port}/`)
process.on('SIGTERM', () => {
  void server.stop(true)
  process.exit(0)
})
