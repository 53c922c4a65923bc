/**
 * Matrix clients in a real browser (headless Chromium), on a page whose origin is neither the
 * homeserver's nor the rendezvous server's, so every request is cross-origin and JSON creates need
 * a CORS preflight: matrix-js-sdk's MSC3886 transport and MSC4108 session find the rendezvous
 * through homeserver discovery (`/versions`) and create on their Matrix paths, and an MSC4388
 * exchange runs with JSON bodies and a bearer token. A stand-in homeserver answers `/versions` and
 * forwards the rendezvous paths to this server, as a reverse proxy in front of a homeserver does.
 */

import { resolve } from 'node:path'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { staticTokens } from '../src/create-auth.ts'
import { type TestServer, startServer } from './harness.ts'

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => Bun.file(path).size > 0) ?? null
if (!CHROMIUM) {
  console.warn('\n*** SKIPPED: browser SDK tests. No Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run installs it). ***\n')
}

const TOKEN = 'syt_browser_device'

describe.skipIf(!CHROMIUM)('Matrix clients in Chromium, cross-origin', () => {
  let rendezvous: TestServer
  let homeserver: ReturnType<typeof Bun.serve>
  let page: ReturnType<typeof Bun.serve>
  let browser: Browser
  let homeserverOrigin: string

  beforeAll(async () => {
    // The homeserver's proxy is trusted, so session URLs use the homeserver's public host.
    rendezvous = await startServer(
      { RENDEZVOUS_TRUST_PROXY: '127.0.0.1', RENDEZVOUS_CREATE_AUTH_OPEN: 'msc3886,msc4108' },
      undefined,
      staticTokens(new Set([TOKEN])),
    )
    homeserver = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      async fetch(request) {
        const url = new URL(request.url)
        if (url.pathname === '/_matrix/client/versions') {
          if (request.method === 'OPTIONS')
            return new Response(null, { status: 204, headers: { 'access-control-allow-origin': '*', 'access-control-allow-headers': '*' } })
          return Response.json(
            { versions: ['v1.11'], unstable_features: { 'org.matrix.msc3886': true, 'org.matrix.msc4108': true } },
            { headers: { 'access-control-allow-origin': '*' } },
          )
        }
        const headers = new Headers(request.headers)
        headers.set('x-forwarded-host', url.host)
        headers.set('x-forwarded-proto', 'http')
        const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer()
        const upstream = await fetch(`${rendezvous.origin}${url.pathname}${url.search}`, { method: request.method, headers, body, redirect: 'manual' })
        return new Response(upstream.body, { status: upstream.status, headers: upstream.headers })
      },
    })
    homeserverOrigin = `http://127.0.0.1:${homeserver.port}`
    // Web bundlers give CommonJS code a `global`; matrix-js-sdk 30 reads `global.fetch`.
    const built = await Bun.build({
      entrypoints: [resolve(import.meta.dirname, 'browser/sdk-entry.ts')],
      target: 'browser',
      minify: true,
      define: { global: 'globalThis' },
    })
    if (!built.success) throw new Error(built.logs.join('\n'))
    const bundle = await built.outputs[0]!.text()
    page = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch(request) {
        const { pathname } = new URL(request.url)
        if (pathname === '/sdk.js') return new Response(bundle, { headers: { 'content-type': 'text/javascript; charset=utf-8' } })
        return new Response('<!doctype html><title>client</title><script type="module" src="/sdk.js"></script>', {
          headers: { 'content-type': 'text/html; charset=utf-8' },
        })
      },
    })
    browser = await chromium.launch({
      executablePath: CHROMIUM!,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    page?.stop(true)
    homeserver?.stop(true)
    await rendezvous?.close()
  })

  /** A fresh tab on the client page, `localhost` rather than 127.0.0.1: another origin again. */
  async function clientPage() {
    const context = await browser.newContext()
    const tab = await context.newPage()
    const errors: string[] = []
    tab.on('pageerror', (error) => errors.push(error.message))
    await tab.goto(`http://localhost:${page.port}/`)
    await tab.waitForLoadState('load')
    if (errors.length > 0) throw new Error(`the client page failed to load: ${errors.join('; ')}`)
    await tab.waitForFunction(() => 'sdk' in globalThis)
    return { tab, close: () => context.close() }
  }

  async function routeCount(route: string, status: number): Promise<number> {
    const metrics = await rendezvous.metrics()
    const escaped = route.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
    return Number(new RegExp(`rendezvous_http_requests_total\\{method="[A-Z]+",route="${escaped}",status="${status}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0)
  }

  it("should run matrix-js-sdk's MSC3886 transport through homeserver discovery and its Matrix path", async () => {
    const { tab, close } = await clientPage()
    try {
      const outcome = await tab.evaluate(async (homeserverUrl) => {
        // biome-ignore lint/suspicious/noExplicitAny: reason: the bundle's globals are untyped in the page
        const { createClient, MSC3886SimpleHttpRendezvousTransport: Transport } = (globalThis as any).sdk
        const client = createClient({ baseUrl: homeserverUrl })
        const failures: string[] = []
        const a = new Transport({ client, onFailure: (r: string) => failures.push(`a:${r}`) })
        await a.send({ type: 'm.login.progress', protocols: ['org.matrix.msc3906.login_token'] })
        const { uri } = await a.details()
        const b = new Transport({ client, onFailure: (r: string) => failures.push(`b:${r}`) })
        b.uri = uri
        const first = await b.receive()
        await b.send({ type: 'm.login.progress', protocol: 'org.matrix.msc3906.login_token' })
        const second = await a.receive()
        await a.cancel('user_declined')
        const afterCancel = await b.receive()
        return { uri, first, second, afterCancel, failures }
      }, homeserverOrigin)
      expect(outcome.uri.startsWith(`${homeserverOrigin}/`)).toBe(true)
      expect(outcome.first).toEqual({ type: 'm.login.progress', protocols: ['org.matrix.msc3906.login_token'] })
      expect(outcome.second).toEqual({ type: 'm.login.progress', protocol: 'org.matrix.msc3906.login_token' })
      expect(outcome.afterCancel).toBeUndefined()
      expect(outcome.failures).toEqual(['a:user_declined', 'b:unknown'])
      expect(await routeCount('/_matrix/client/unstable/org.matrix.msc3886/rendezvous', 201)).toBe(1)
      expect(await routeCount('preflight', 204)).toBeGreaterThan(0)
    } finally {
      await close()
    }
  }, 60_000)

  it("should run matrix-js-sdk's MSC4108 session through homeserver discovery and its Matrix path", async () => {
    const { tab, close } = await clientPage()
    try {
      const outcome = await tab.evaluate(async (homeserverUrl) => {
        // biome-ignore lint/suspicious/noExplicitAny: reason: the bundle's globals are untyped in the page
        const { createClient, MSC4108RendezvousSession: Session } = (globalThis as any).sdk
        const client = createClient({ baseUrl: homeserverUrl })
        const failures: string[] = []
        const a = new Session({ client, onFailure: (r: string) => failures.push(`a:${r}`) })
        await a.send('hello from A')
        const b = new Session({ url: a.url, onFailure: (r: string) => failures.push(`b:${r}`) })
        const received = [await b.receive()]
        await b.send('hello from B')
        received.push(await a.receive())
        await a.send('reply from A')
        received.push(await b.receive())
        await a.cancel('user_cancelled')
        received.push(await b.receive())
        return { url: a.url as string, received, failures }
      }, homeserverOrigin)
      expect(outcome.url.startsWith(`${homeserverOrigin}/`)).toBe(true)
      expect(outcome.received).toEqual(['hello from A', 'hello from B', 'reply from A', undefined])
      expect(outcome.failures).toEqual(['a:user_cancelled', 'b:unknown'])
      expect(await routeCount('/_matrix/client/unstable/org.matrix.msc4108/rendezvous', 201)).toBe(1)
    } finally {
      await close()
    }
  }, 60_000)

  it('should run an MSC4388 exchange with JSON bodies and a bearer token, and refuse a navigation to the session', async () => {
    const { tab, close } = await clientPage()
    try {
      const outcome = await tab.evaluate(
        async ({ homeserverUrl, token }) => {
          const base = `${homeserverUrl}/_matrix/client/v1/rendezvous`
          const json = { 'content-type': 'application/json' }
          const call = async (path: string, init: RequestInit = {}) => {
            const response = await fetch(`${base}${path}`, init)
            // biome-ignore lint/suspicious/noExplicitAny: bodies are checked by the test
            return { status: response.status, body: (await response.json()) as Record<string, any> }
          }
          const discovery = await call('', { headers: { authorization: `Bearer ${token}` } })
          const created = await call('', { method: 'POST', headers: { ...json, authorization: `Bearer ${token}` }, body: JSON.stringify({ data: 'A: hello' }) })
          const id = created.body['id']
          const bRead = await call(`/${id}`)
          const bWrite = await call(`/${id}/txn-b1`, {
            method: 'PUT',
            headers: json,
            body: JSON.stringify({ sequence_token: bRead.body['sequence_token'], data: 'B: hello' }),
          })
          const bRetry = await call(`/${id}/txn-b1`, {
            method: 'PUT',
            headers: json,
            body: JSON.stringify({ sequence_token: bRead.body['sequence_token'], data: 'B: hello' }),
          })
          const aRead = await call(`/${id}`)
          const aWrite = await call(`/${id}`, {
            method: 'PUT',
            headers: json,
            body: JSON.stringify({ sequence_token: aRead.body['sequence_token'], data: 'A: done' }),
          })
          const stale = await call(`/${id}`, {
            method: 'PUT',
            headers: json,
            body: JSON.stringify({ sequence_token: bRead.body['sequence_token'], data: 'B: late' }),
          })
          const final = await call(`/${id}`)
          return { id: id as string, discovery, created, bRead, bWrite, bRetry, aRead, aWrite, stale, final }
        },
        { homeserverUrl: homeserverOrigin, token: TOKEN },
      )
      expect(outcome.discovery).toEqual({ status: 200, body: { create_available: true } })
      expect(outcome.created.status).toBe(200)
      expect(outcome.bRead.body).toMatchObject({ data: 'A: hello', sequence_token: outcome.created.body['sequence_token'] })
      expect(outcome.bWrite.status).toBe(200)
      expect(outcome.bRetry).toEqual(outcome.bWrite)
      expect(outcome.aRead.body).toMatchObject({ data: 'B: hello', sequence_token: outcome.bWrite.body['sequence_token'] })
      expect(outcome.aWrite.status).toBe(200)
      expect(outcome.stale).toMatchObject({ status: 409, body: { errcode: 'M_CONCURRENT_WRITE' } })
      expect(outcome.final.body).toMatchObject({ data: 'A: done' })

      // Opened as a page (a QR code's link followed), the session shows nothing.
      const navigation = await tab.goto(`${homeserverOrigin}/_matrix/client/v1/rendezvous/${outcome.id}`)
      expect(navigation?.status()).toBe(403)
      expect(await navigation?.text()).not.toContain('A: done')
    } finally {
      await close()
    }
  }, 60_000)
})
