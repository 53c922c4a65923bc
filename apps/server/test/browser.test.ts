/**
 * The demo page in headless Chromium, served from another origin than the rendezvous API
 * (`localhost` versus `127.0.0.1`), so every request is cross-origin: preflights for If-Match,
 * If-None-Match and Prefer, exposed ETags, and JSON errors readable by the page.
 */

import { type Browser, type Page, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, startServer } from './harness.ts'

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => Bun.file(path).size > 0) ?? null
if (!CHROMIUM) {
  console.warn('\n*** SKIPPED: browser tests. No Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run installs it). ***\n')
}

describe.skipIf(!CHROMIUM)('the demo page in Chromium, cross-origin', () => {
  let server: TestServer
  let browser: Browser

  beforeAll(async () => {
    server = await startServer({ RENDEZVOUS_DEMO: 'on', RENDEZVOUS_MAX_WAIT_SECONDS: '20' })
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
    await server?.close()
  })

  async function logOf(page: Page): Promise<string[]> {
    return page.locator('#log li').allTextContents()
  }

  async function expectLog(page: Page, line: string): Promise<void> {
    await expect.poll(() => logOf(page), { timeout: 10_000 }).toContain(line)
  }

  it('should let two tabs create, join, exchange messages and see the cancel', async () => {
    const api = `${server.origin}/`
    const pageOrigin = `http://localhost:${server.port}`
    const context = await browser.newContext()
    const a = await context.newPage()
    const b = await context.newPage()
    const requests: string[] = []
    for (const page of [a, b]) page.on('request', (request) => requests.push(`${request.method()} ${new URL(request.url()).origin}`))

    await a.goto(`${pageOrigin}/demo?server=${encodeURIComponent(api)}`)
    await a.fill('#message', 'hello from A')
    await a.click('#create')
    await expectLog(a, 'created rendezvous, sent: hello from A')
    const joinLink = await a.getAttribute('#join-link', 'href')
    expect(joinLink).toContain('#join=')
    // The QR code is drawn and is an image the browser could load.
    await expect.poll(() => a.evaluate(() => (document.getElementById('qr') as HTMLImageElement).naturalWidth)).toBeGreaterThan(0)

    await b.goto(joinLink!)
    await expectLog(b, 'joined, received: hello from A')
    await b.fill('#message', 'hello from B')
    await b.click('#send')
    await expectLog(b, 'sent: hello from B')
    await expectLog(a, 'received: hello from B')

    await a.fill('#message', 'reply from A')
    await a.click('#send')
    await expectLog(b, 'received: reply from A')

    await a.click('#cancel')
    await expectLog(a, 'cancelled')
    // B's held long-poll ends in a 404 whose JSON error body the page could read cross-origin.
    await expectLog(b, 'error 404 M_NOT_FOUND')
    expect(await logOf(a)).not.toContain('received: reply from A')

    // The API really was another origin, and the browser asked first (CORS preflights, which the
    // page's request events do not show, but the server counts).
    expect(requests).toContain(`PUT ${server.origin}`)
    expect(requests.every((r) => !r.startsWith('PUT') || r.endsWith(server.origin))).toBe(true)
    const metrics = await server.metrics()
    const preflights = Number(/rendezvous_http_requests_total\{method="OPTIONS",route="preflight",status="204"\} (\d+)/.exec(metrics)?.[1] ?? 0)
    expect(preflights).toBeGreaterThan(0)
    await context.close()
  }, 60_000)

  it('should not serve the demo unless RENDEZVOUS_DEMO is on', async () => {
    const plain = await startServer()
    try {
      expect((await fetch(`${plain.origin}/demo`)).status).toBe(404)
    } finally {
      await plain.close()
    }
  })
})
