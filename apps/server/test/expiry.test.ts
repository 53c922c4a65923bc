import { parseHttpDate } from '@rendezvous/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, create, sleep, startServer } from './harness.ts'

let server: TestServer
beforeAll(async () => {
  server = await startServer({ RENDEZVOUS_TTL_SECONDS: '1' })
})
afterAll(() => server.close())

describe('expiry', () => {
  it('should answer 404 to every method once the TTL has passed, and reclaim the memory', async () => {
    const sentAt = Date.now()
    const { id, response } = await create(server, 'short-lived')
    // The server created it between these two instants, so it expires by `answeredAt + TTL`.
    const answeredAt = Date.now()
    const expires = parseHttpDate(response.headers.get('expires')!)!
    // Expires has one-second resolution: the exact deadline (creation + TTL) lies within the
    // second that starts at the header's time.
    expect(expires).toBeGreaterThan(sentAt)
    expect(expires).toBeLessThanOrEqual(Date.now() + 1000)
    expect((await fetch(`${server.base}${id}`)).status).toBe(200)
    await sleep(Math.max(0, answeredAt + 1000 - Date.now()) + 20)
    expect((await fetch(`${server.base}${id}`)).status).toBe(404)
    expect((await fetch(`${server.base}${id}`, { headers: { 'if-none-match': '*' } })).status).toBe(404)
    expect((await fetch(`${server.base}${id}`, { method: 'PUT', body: 'late' })).status).toBe(404)
    expect((await fetch(`${server.base}${id}`, { method: 'DELETE' })).status).toBe(404)
    await sleep(300)
    expect(await server.store.stats()).toMatchObject({ sessions: 0, payloadBytes: 0 })
  })

  it('should not extend the lifetime when the payload is written', async () => {
    const { id, response } = await create(server, 'v1')
    const answeredAt = Date.now()
    await sleep(400)
    const put = await fetch(`${server.base}${id}`, { method: 'PUT', body: 'v2' })
    expect(put.status).toBe(202)
    expect(put.headers.get('expires')).toBe(response.headers.get('expires'))
    await sleep(Math.max(0, answeredAt + 1000 - Date.now()) + 20)
    expect((await fetch(`${server.base}${id}`)).status).toBe(404)
  })
})
