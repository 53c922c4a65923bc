/**
 * @module The MSC3886 exchange of matrix-js-sdk 30.3.0 between two devices, shared by the tests
 * that run it against one server and across two instances.
 */

import { expect } from 'vitest'
import * as logger30 from 'matrix-js-sdk-30/lib/logger.js'
import * as msc3886Module from 'matrix-js-sdk-30/lib/rendezvous/transports/MSC3886SimpleHttpRendezvousTransport.js'

interface Msc3886Transport {
  send(data: object): Promise<void>
  receive(): Promise<object | undefined>
  cancel(reason: string): Promise<void>
  details(): Promise<{ uri: string }>
}
type Msc3886Constructor = new (options: {
  onFailure?: (reason: string) => void
  client: unknown
  fallbackRzServer?: string
  fetchFn?: typeof fetch
}) => Msc3886Transport
// The 30.x module is CommonJS; a narrow view of it keeps the tests independent of its typings.
const MSC3886SimpleHttpRendezvousTransport = (msc3886Module as unknown as { MSC3886SimpleHttpRendezvousTransport: Msc3886Constructor })
  .MSC3886SimpleHttpRendezvousTransport

// The SDK logs every request at info; keep test output readable.
;(logger30 as unknown as { logger: { setLevel(level: string): void } }).logger.setLevel('silent')

/**
 * Device A creates (through `client`'s Matrix path when it offers MSC3886, else
 * `fallbackRzServer`), B joins by the URI from the QR code; they exchange three messages, A cancels
 * and B sees the rendezvous gone. Returns the URI.
 */
export async function runMsc3886Exchange(options: { client: unknown; fallbackRzServer: string; joinUrl?: (uri: string) => string }): Promise<string> {
  const failures: string[] = []
  const a = new MSC3886SimpleHttpRendezvousTransport({
    client: options.client,
    fallbackRzServer: options.fallbackRzServer,
    onFailure: (r) => failures.push(`a:${r}`),
  })
  await a.send({ type: 'm.login.progress', protocols: ['org.matrix.msc3906.login_token'] })
  const { uri } = await a.details()

  const b = new MSC3886SimpleHttpRendezvousTransport({ client: options.client, onFailure: (r) => failures.push(`b:${r}`) })
  // The scanning device learns the URI from the QR code.
  ;(b as unknown as { uri: string }).uri = options.joinUrl?.(uri) ?? uri
  expect(await b.receive()).toEqual({ type: 'm.login.progress', protocols: ['org.matrix.msc3906.login_token'] })
  await b.send({ type: 'm.login.progress', protocol: 'org.matrix.msc3906.login_token' })
  expect(await a.receive()).toEqual({ type: 'm.login.progress', protocol: 'org.matrix.msc3906.login_token' })
  await a.send({ type: 'm.login.approved', approved: true })
  expect(await b.receive()).toEqual({ type: 'm.login.approved', approved: true })

  await a.cancel('user_declined')
  expect(await b.receive()).toBeUndefined()
  expect(failures).toEqual(['a:user_declined', 'b:unknown'])
  return uri
}
