/**
 * The client halves Matrix clients actually ship, from matrix-js-sdk, completing a full exchange
 * through this server: send, receive, reply, receive, cancel. Both through `POST /` (the fallback
 * rendezvous server of older clients) and through their own Matrix paths.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as msc3886Module from 'matrix-js-sdk-30/lib/rendezvous/transports/MSC3886SimpleHttpRendezvousTransport.js'
import * as logger30 from 'matrix-js-sdk-30/lib/logger.js'
import { type TestServer, startServer } from './harness.ts'
import { runMsc4108Exchange } from './msc4108-exchange.ts'

interface Msc3886Transport {
  send(data: object): Promise<void>
  receive(): Promise<object | undefined>
  cancel(reason: string): Promise<void>
  details(): Promise<{ uri: string }>
}
type Msc3886Constructor = new (options: { onFailure?: (reason: string) => void; client: unknown; fallbackRzServer?: string; fetchFn?: typeof fetch }) => Msc3886Transport
// The 30.x module is CommonJS; a narrow view of it keeps the test independent of its typings.
const MSC3886SimpleHttpRendezvousTransport = (msc3886Module as unknown as { MSC3886SimpleHttpRendezvousTransport: Msc3886Constructor }).MSC3886SimpleHttpRendezvousTransport

// The SDK logs every request at info; keep test output readable.
;(logger30 as unknown as { logger: { setLevel(level: string): void } }).logger.setLevel('silent')

let server: TestServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

/** Just enough of a MatrixClient for the transports: whether the homeserver offers the feature, and its URL. */
function fakeClient(feature: string | null) {
  return {
    baseUrl: server.origin,
    doesServerSupportUnstableFeature: async (name: string) => name === feature,
    http: { getUrl: (path: string, _query: unknown, prefix: string) => new URL(`${server.origin}${prefix}${path}`) },
  }
}

describe.each([
  ['through POST / (fallback server)', null],
  ['through the MSC3886 Matrix path', 'org.matrix.msc3886'],
])('matrix-js-sdk 30.3.0 MSC3886SimpleHttpRendezvousTransport %s', (_name, feature) => {
  it('should complete send, receive, reply, receive and cancel between two devices', async () => {
    const failures: string[] = []
    const a = new MSC3886SimpleHttpRendezvousTransport({ client: fakeClient(feature), fallbackRzServer: server.base, onFailure: (r) => failures.push(`a:${r}`) })
    await a.send({ type: 'm.login.progress', protocols: ['org.matrix.msc3906.login_token'] })
    const { uri } = await a.details()
    expect(uri.startsWith(server.base)).toBe(true)

    const b = new MSC3886SimpleHttpRendezvousTransport({ client: fakeClient(null), onFailure: (r) => failures.push(`b:${r}`) })
    // The scanning device learns the URI from the QR code.
    ;(b as unknown as { uri: string }).uri = uri
    expect(await b.receive()).toEqual({ type: 'm.login.progress', protocols: ['org.matrix.msc3906.login_token'] })
    await b.send({ type: 'm.login.progress', protocol: 'org.matrix.msc3906.login_token' })
    expect(await a.receive()).toEqual({ type: 'm.login.progress', protocol: 'org.matrix.msc3906.login_token' })
    await a.send({ type: 'm.login.approved', approved: true })
    expect(await b.receive()).toEqual({ type: 'm.login.approved', approved: true })

    await a.cancel('user_declined')
    expect(await b.receive()).toBeUndefined()
    expect(failures).toEqual(['a:user_declined', 'b:unknown'])
    expect((await fetch(uri)).status).toBe(404)
  }, 30_000)
})

describe.each([
  ['through POST / (fallback server)', null],
  ['through the MSC4108 Matrix path', 'org.matrix.msc4108'],
])('matrix-js-sdk 37.5.0 MSC4108RendezvousSession %s', (_name, feature) => {
  it('should complete send, receive, reply, receive and cancel between two devices', async () => {
    const url = await runMsc4108Exchange({ client: fakeClient(feature), fallbackRzServer: server.base })
    expect(url.startsWith(server.base)).toBe(true)
    expect((await fetch(url)).status).toBe(404)
  }, 30_000)
})
