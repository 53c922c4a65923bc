/**
 * An MSC4388 client written the way matrix-rust-sdk behaves: it polls once a second with GET and
 * treats a new sequence token as a new message; it writes with the last token it saw. Two of them
 * complete a login exchange through the server, as two devices would.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, sleep, startServer } from './harness.ts'

const POLL_INTERVAL_MS = 1000

class Msc4388Device {
  readonly base: string
  #url = ''
  #token = ''

  constructor(base: string) {
    this.base = base
  }

  get url(): string {
    return this.#url
  }

  /** Creates the rendezvous with the first message; the URL goes into the QR code. */
  async create(data: string): Promise<void> {
    const response = await fetch(this.base, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data }) })
    if (response.status !== 200) throw new Error(`create: ${response.status}`)
    const body = (await response.json()) as { id: string; sequence_token: string }
    this.#url = `${this.base}/${body.id}`
    this.#token = body.sequence_token
  }

  /** Joins from the scanned URL and returns what is there. */
  async join(url: string): Promise<string> {
    this.#url = url
    const { data, sequence_token } = await this.#get()
    this.#token = sequence_token
    return data
  }

  async send(data: string): Promise<void> {
    const response = await fetch(this.#url, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sequence_token: this.#token, data }),
    })
    if (response.status !== 200) throw new Error(`send: ${response.status}`)
    this.#token = ((await response.json()) as { sequence_token: string }).sequence_token
  }

  /** Polls until the token moves; null when the rendezvous is gone. */
  async receive(timeoutMs = 10_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const response = await fetch(this.#url)
      if (response.status === 404) return null
      const { data, sequence_token } = (await response.json()) as { data: string; sequence_token: string }
      if (sequence_token !== this.#token) {
        this.#token = sequence_token
        return data
      }
      await sleep(POLL_INTERVAL_MS)
    }
    throw new Error('receive timed out')
  }

  async cancel(): Promise<void> {
    const response = await fetch(this.#url, { method: 'DELETE' })
    if (response.status !== 200) throw new Error(`cancel: ${response.status}`)
  }

  async #get(): Promise<{ data: string; sequence_token: string }> {
    const response = await fetch(this.#url)
    if (response.status !== 200) throw new Error(`get: ${response.status}`)
    return (await response.json()) as { data: string; sequence_token: string }
  }
}

let server: TestServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

describe.each(['/_matrix/client/v1/rendezvous', '/_matrix/client/unstable/io.element.msc4388/rendezvous'])(
  'an MSC4388 exchange between two polling devices at %s',
  (path) => {
    it('should carry send, receive, reply, receive and cancel', async () => {
      const a = new Msc4388Device(`${server.origin}${path}`)
      const b = new Msc4388Device(`${server.origin}${path}`)
      await a.create('{"type":"m.login.protocols","protocols":["device_authorization_grant"]}')
      expect(await b.join(a.url)).toBe('{"type":"m.login.protocols","protocols":["device_authorization_grant"]}')
      // Each side is already polling when the other writes, as on two real devices.
      const aReceives = a.receive()
      await sleep(300)
      await b.send('{"type":"m.login.protocol","protocol":"device_authorization_grant"}')
      expect(await aReceives).toBe('{"type":"m.login.protocol","protocol":"device_authorization_grant"}')
      const bReceives = b.receive()
      await sleep(300)
      await a.send('{"type":"m.login.protocol_accepted"}')
      expect(await bReceives).toBe('{"type":"m.login.protocol_accepted"}')
      const bSeesCancel = b.receive()
      await sleep(300)
      await a.cancel()
      expect(await bSeesCancel).toBeNull()
    }, 30_000)
  },
)
