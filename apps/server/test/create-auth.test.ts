/**
 * Create auth (`RENDEZVOUS_CREATE_AUTH`): with a token file or a homeserver's verdict, over every
 * create path of every dialect, with named older dialects left open on request.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from 'node:net'
import { homeserverTokens, staticTokens } from '../src/create-auth.ts'
import { jsonLogger } from '../src/log.ts'
import { type TestServer, sleep, startServer } from './harness.ts'
import { listeningUrl, spawnMain } from './process.ts'

const SEED = '/'
const MSC3886 = '/_matrix/client/unstable/org.matrix.msc3886/rendezvous'
const MSC4108 = '/_matrix/client/unstable/org.matrix.msc4108/rendezvous'
const MSC4388 = '/_matrix/client/v1/rendezvous'
const CREATE_PATHS = [SEED, MSC3886, MSC4108, MSC4388, '/_matrix/client/unstable/io.element.msc4388/rendezvous']

function create(server: TestServer, path: string, token?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`
  const body = path.includes('msc4388') || path === MSC4388 ? JSON.stringify({ data: 'hello' }) : 'hello'
  return fetch(`${server.origin}${path}`, { method: 'POST', body, headers })
}

async function errcodeOf(response: Response): Promise<string> {
  return ((await response.json()) as { errcode: string }).errcode
}

describe('create auth with a token file', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer({}, undefined, staticTokens(new Set(['s3cret'])))
  })
  afterAll(() => server.close())

  // Regression: only MSC4388 checked the token, and POST / created rendezvous that were then fully
  // usable through the MSC4388 paths.
  it.each(CREATE_PATHS)('should need an accepted token to create on %s', async (path) => {
    const missing = await create(server, path)
    expect(missing.status).toBe(401)
    expect(await errcodeOf(missing)).toBe('M_MISSING_TOKEN')
    const wrong = await create(server, path, 'nope')
    expect(wrong.status).toBe(401)
    expect(await errcodeOf(wrong)).toBe('M_UNKNOWN_TOKEN')
    const ok = await create(server, path, 's3cret')
    expect(ok.status).toBeLessThan(300)
    await ok.arrayBuffer()
  })

  it('should leave reading, writing and deleting a session open to anyone holding its URL', async () => {
    const created = await create(server, SEED, 's3cret')
    const { id } = (await created.json()) as { id: string }
    expect((await fetch(`${server.base}${id}`)).status).toBe(200)
    expect((await fetch(`${server.base}${id}`, { method: 'PUT', body: 'reply' })).status).toBe(202)
    expect((await fetch(`${server.origin}${MSC4388}/${id}`)).status).toBe(200)
    expect((await fetch(`${server.base}${id}`, { method: 'DELETE' })).status).toBe(204)
  })

  it('should tell MSC4388 discovery whether this caller may create', async () => {
    const ask = (headers: Record<string, string> = {}) => fetch(`${server.origin}${MSC4388}`, { headers })
    const anonymous = await ask()
    expect(anonymous.status).toBe(200)
    expect(await anonymous.json()).toEqual({ create_available: false })
    const invalid = await ask({ authorization: 'Bearer nope' })
    expect(invalid.status).toBe(401)
    expect(await errcodeOf(invalid)).toBe('M_UNKNOWN_TOKEN')
    const valid = await ask({ authorization: 'Bearer s3cret' })
    expect(await valid.json()).toEqual({ create_available: true })
  })
})

describe('create auth with older dialects left open', () => {
  it('should open exactly the dialects named in RENDEZVOUS_CREATE_AUTH_OPEN', async () => {
    const server = await startServer({ RENDEZVOUS_CREATE_AUTH_OPEN: 'seed,msc3886' }, undefined, staticTokens(new Set(['s3cret'])))
    try {
      expect((await create(server, SEED)).status).toBe(200)
      expect((await create(server, MSC3886)).status).toBe(201)
      expect((await create(server, MSC4108)).status).toBe(401)
      expect((await create(server, MSC4388)).status).toBe(401)
      expect(await (await fetch(`${server.origin}${MSC4388}`)).json()).toEqual({ create_available: false })
    } finally {
      await server.close()
    }
  })
})

/** A stand-in homeserver answering `whoami` the way Synapse does, counting the questions. */
function standInHomeserver(options: { delayMs?: number; status?: number } = {}) {
  let asked = 0
  const seen: string[] = []
  const homeserver = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request) {
      if (new URL(request.url).pathname !== '/_matrix/client/v3/account/whoami') return new Response('{}', { status: 404 })
      asked++
      seen.push(request.headers.get('authorization') ?? '')
      if (options.delayMs) await sleep(options.delayMs)
      if (options.status) return Response.json({ errcode: 'M_UNKNOWN', error: 'down' }, { status: options.status })
      const token = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1]
      if (token === 'syt_alice_valid') return Response.json({ user_id: '@alice:example.org', device_id: 'ABC', is_guest: false })
      if (token === undefined) return Response.json({ errcode: 'M_MISSING_TOKEN', error: 'Missing access token' }, { status: 401 })
      return Response.json({ errcode: 'M_UNKNOWN_TOKEN', error: 'Unknown access token', soft_logout: false }, { status: 401 })
    },
  })
  return {
    url: `http://127.0.0.1:${homeserver.port}`,
    get asked() {
      return asked
    },
    seen,
    stop: () => homeserver.stop(true),
  }
}

describe('create auth checked by the homeserver (whoami)', () => {
  it('should accept tokens the homeserver accepts, refuse the rest with 401, and ask once per token', async () => {
    const homeserver = standInHomeserver()
    const lines: string[] = []
    const logger = jsonLogger('debug', (line) => lines.push(line))
    const server = await startServer({}, logger, homeserverTokens({ baseUrl: homeserver.url, logger }))
    try {
      for (let i = 0; i < 3; i++) expect((await create(server, MSC4388, 'syt_alice_valid')).status).toBe(200)
      for (let i = 0; i < 3; i++) {
        const refused = await create(server, MSC4108, 'syt_mallory_forged')
        expect(refused.status).toBe(401)
        expect(await errcodeOf(refused)).toBe('M_UNKNOWN_TOKEN')
      }
      // Both verdicts were cached: one question per token.
      expect(homeserver.asked).toBe(2)
      expect(homeserver.seen).toEqual(['Bearer syt_alice_valid', 'Bearer syt_mallory_forged'])
      // Concurrent questions about a new token share one request.
      const burst = await Promise.all(Array.from({ length: 10 }, () => create(server, SEED, 'syt_bob_unknown')))
      expect(burst.every((r) => r.status === 401)).toBe(true)
      expect(homeserver.asked).toBe(3)
      expect(lines.join('')).not.toContain('syt_')
    } finally {
      await server.close()
      homeserver.stop()
    }
  })

  it('should answer 503 (never 401 or 500) when the homeserver is slow, failing or gone, and cache none of it', async () => {
    const slow = standInHomeserver({ delayMs: 2000 })
    const failing = standInHomeserver({ status: 502 })
    const gone = standInHomeserver()
    gone.stop()
    for (const homeserver of [slow, failing, gone]) {
      const server = await startServer({}, undefined, homeserverTokens({ baseUrl: homeserver.url, timeoutMs: 300 }))
      try {
        const started = performance.now()
        const answer = await create(server, MSC4388, 'syt_alice_valid')
        expect(answer.status).toBe(503)
        expect(await errcodeOf(answer)).toBe('M_UNKNOWN')
        expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0)
        expect(performance.now() - started).toBeLessThan(1500)
        const discovery = await fetch(`${server.origin}${MSC4388}`, { headers: { authorization: 'Bearer syt_alice_valid' } })
        expect(discovery.status).toBe(503)
      } finally {
        await server.close()
      }
    }
    expect(failing.asked).toBe(2)
    slow.stop()
    failing.stop()
  })

  it('should be set up from RENDEZVOUS_CREATE_AUTH naming the homeserver', async () => {
    const homeserver = standInHomeserver()
    const child = spawnMain(['--host', '127.0.0.1', '--port', '0', '--shutdown-drain', '0'], { RENDEZVOUS_CREATE_AUTH: homeserver.url })
    try {
      const base = await listeningUrl(child.stderr)
      const post = (token: string) => fetch(base, { method: 'POST', body: 'x', headers: { authorization: `Bearer ${token}` } })
      expect((await post('syt_alice_valid')).status).toBe(200)
      expect((await post('syt_other')).status).toBe(401)
      expect(homeserver.asked).toBe(2)
    } finally {
      child.kill('SIGKILL')
      homeserver.stop()
    }
  })
})

/** A create on the seed path sent from `from` (fetch cannot choose its source address): the status. */
function createFrom(server: TestServer, from: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: server.port, host: '127.0.0.1', localAddress: from })
    let head = ''
    socket.on('connect', () =>
      socket.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`),
    )
    socket.on('data', (chunk: Buffer) => (head += chunk.toString('latin1')))
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)))
    socket.on('error', reject)
  })
}

describe('create auth by homeserver, driven by strangers', () => {
  it('should stop reading a whoami answer past 64 KiB, answer 503, and not grow by the answer', async () => {
    let sent = 0
    const huge = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch() {
        // 30 MB of "valid-looking" JSON, streamed without a length, as a hostile or broken homeserver might.
        const text = `"${'x'.repeat(65_534)}",`
        let left = 480
        return new Response(
          new ReadableStream({
            pull(controller) {
              if (left-- === 0) return controller.close()
              const chunk = new TextEncoder().encode(text)
              sent += chunk.byteLength
              controller.enqueue(chunk)
            },
          }),
          { headers: { 'content-type': 'application/json' } },
        )
      },
    })
    const server = await startServer({}, undefined, homeserverTokens({ baseUrl: `http://127.0.0.1:${huge.port}`, timeoutMs: 3000 }))
    try {
      const answer = await create(server, MSC4388, 'syt_alice_valid')
      expect(answer.status).toBe(503)
      expect(await errcodeOf(answer)).toBe('M_UNKNOWN')
      await sleep(200)
      // What the homeserver got to send is bounded by socket buffers, far below the 30 MB it offered.
      expect(sent).toBeLessThan(8 << 20)
    } finally {
      await server.close()
      huge.stop(true)
    }
  })

  it('should have at most 32 questions under way at once, and answer the rest 503 at once', async () => {
    let underWay = 0
    let most = 0
    let release = () => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    const stalling = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      async fetch() {
        most = Math.max(most, ++underWay)
        await released
        underWay--
        return Response.json({ errcode: 'M_UNKNOWN_TOKEN', error: 'Unknown access token' }, { status: 401 })
      },
    })
    const server = await startServer(
      { RENDEZVOUS_CREATE_AUTH_CHECK_RATE_LIMIT: 'off' },
      undefined,
      homeserverTokens({ baseUrl: `http://127.0.0.1:${stalling.port}`, timeoutMs: 5000 }),
    )
    try {
      const asking = Array.from({ length: 32 }, (_, i) => create(server, SEED, `syt_random_${i}`))
      await sleep(300)
      const started = performance.now()
      const beyond = await Promise.all(Array.from({ length: 20 }, (_, i) => create(server, SEED, `syt_more_${i}`)))
      expect(beyond.map((r) => r.status)).toEqual(beyond.map(() => 503))
      expect(performance.now() - started).toBeLessThan(1000)
      expect(most).toBe(32)
      release()
      const answered = await Promise.all(asking)
      expect(answered.map((r) => r.status)).toEqual(answered.map(() => 401))
    } finally {
      release()
      await server.close()
      stalling.stop(true)
    }
  })

  it("should let one address bring only its budget of new tokens, answered 429 without asking, and keep others' and known tokens working", async () => {
    const homeserver = standInHomeserver()
    const server = await startServer({ RENDEZVOUS_CREATE_AUTH_CHECK_RATE_LIMIT: '5/60' }, undefined, homeserverTokens({ baseUrl: homeserver.url }))
    try {
      expect(await createFrom(server, '127.0.0.2', 'syt_alice_valid')).toBe(200)
      const statuses: number[] = []
      for (let i = 0; i < 10; i++) statuses.push(await createFrom(server, '127.0.0.2', `syt_random_${i}`))
      expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429, 429, 429])
      // One question for alice's token, four for the random ones that fitted the budget.
      expect(homeserver.asked).toBe(5)
      // A verdict already known costs the homeserver nothing, so it is not refused.
      expect(await createFrom(server, '127.0.0.2', 'syt_alice_valid')).toBe(200)
      expect(await createFrom(server, '127.0.0.2', 'syt_random_0')).toBe(401)
      // Another address has its own budget.
      expect(await createFrom(server, '127.0.0.3', 'syt_stranger')).toBe(401)
      expect(homeserver.asked).toBe(6)
    } finally {
      await server.close()
      homeserver.stop()
    }
  })

  it('should make MSC4388 discovery spend from the create budget', async () => {
    const homeserver = standInHomeserver()
    const server = await startServer({ RENDEZVOUS_CREATE_RATE_LIMIT: '3/60' }, undefined, homeserverTokens({ baseUrl: homeserver.url }))
    try {
      const discover = () => fetch(`${server.origin}${MSC4388}`, { headers: { authorization: 'Bearer syt_alice_valid' } })
      for (let i = 0; i < 3; i++) expect(await (await discover()).json()).toEqual({ create_available: true })
      const refused = await discover()
      expect(refused.status).toBe(429)
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
      expect((await create(server, MSC4388, 'syt_alice_valid')).status).toBe(429)
      expect(homeserver.asked).toBe(1)
    } finally {
      await server.close()
      homeserver.stop()
    }
  })
})
