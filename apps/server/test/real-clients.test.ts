/**
 * The client halves Matrix clients actually ship, from matrix-js-sdk, completing a full exchange
 * through this server: send, receive, reply, receive, cancel. Both through `POST /` (the fallback
 * rendezvous server of older clients) and through their own Matrix paths.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, startServer } from './harness.ts'
import { runMsc3886Exchange } from './msc3886-exchange.ts'
import { runMsc4108Exchange } from './msc4108-exchange.ts'

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
    const uri = await runMsc3886Exchange({ client: fakeClient(feature), fallbackRzServer: server.base })
    expect(uri.startsWith(server.base)).toBe(true)
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
