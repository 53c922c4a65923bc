/**
 * @module The browser demo (RENDEZVOUS_DEMO=on): a page that creates or joins a rendezvous, shows
 * the join link as a QR code, and exchanges messages with a visible log. Off by default: a
 * production server has no pages.
 */

import qrcode from 'qrcode-generator'
import pagePath from './demo/index.html' with { type: 'file' }
import scriptPath from './demo/demo.js' with { type: 'file' }

/** The page may run only its own script, and may talk to any rendezvous server. */
const DEMO_CSP =
  "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; connect-src *; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
/** Longest text we draw as a QR code. */
const MAX_QR_DATA = 1024

export interface DemoAssets {
  page(): Response
  script(): Response
  qr(request: Request): Response
}

/** The page and its script, served from files embedded in the single executable or beside this one. */
export function demoAssets(): DemoAssets {
  // `with { type: 'file' }` gives a path; bun-types calls every .html import an HTML bundle.
  const html = Bun.file(pagePath as unknown as string)
  const js = Bun.file(scriptPath)
  const headers = (contentType: string) => ({
    'content-type': contentType,
    'content-security-policy': DEMO_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  })
  return {
    page: () => new Response(html, { headers: headers('text/html; charset=utf-8') }),
    script: () => new Response(js, { headers: headers('text/javascript; charset=utf-8') }),
    qr(request) {
      const data = new URL(request.url).searchParams.get('data') ?? ''
      if (data === '' || data.length > MAX_QR_DATA) return new Response('bad data', { status: 400, headers: headers('text/plain') })
      const code = qrcode(0, 'M')
      code.addData(data)
      code.make()
      return new Response(code.createSvgTag({ cellSize: 4, margin: 2, scalable: true }), { headers: headers('image/svg+xml') })
    },
  }
}
