/**
 * A retried PUT is not a conflict (docs/protocol.md#conditional-requests; RFC 9110 section 13.1.1): proxies and HTTP
 * stacks repeat a PUT whose answer was lost, carrying the old If-Match. When the change it asks for
 * is already the current state, the retry is answered 202 with the current ETag and changes
 * nothing; any other failed condition is still 412. On every ETag dialect's sessions.
 */

import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, sleep, startServer } from './harness.ts'

let server: TestServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

/** Creates a rendezvous through `dialect`'s create path and returns its session URL and ETag. */
async function createThrough(dialect: string): Promise<{ url: string; etag: string }> {
  const paths: Record<string, string> = {
    seed: '/',
    msc3886: '/_matrix/client/unstable/org.matrix.msc3886/rendezvous',
    msc4108: '/_matrix/client/unstable/org.matrix.msc4108/rendezvous',
  }
  const response = await fetch(`${server.origin}${paths[dialect]}`, { method: 'POST', body: 'A1', headers: { 'content-type': 'text/plain' } })
  const etag = response.headers.get('etag')!
  const location = response.headers.get('location')!
  const body = await response.text()
  const url = dialect === 'msc3886' ? location : (JSON.parse(body) as { url: string }).url
  return { url, etag }
}

/** Sends a PUT over a raw socket and drops the connection as soon as it is written: the answer is lost. */
function putAndHangUp(url: string, etag: string, body: string): Promise<void> {
  const { pathname } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1', () => {
      socket.write(
        `PUT ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-Match: ${etag}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        () => {
          socket.destroy()
          resolve()
        },
      )
    })
    socket.on('error', reject)
  })
}

async function currentState(url: string): Promise<{ etag: string; lastModified: string; body: string }> {
  const response = await fetch(url)
  return { etag: response.headers.get('etag')!, lastModified: response.headers.get('last-modified')!, body: await response.text() }
}

const put = (url: string, ifMatch: string, body: string, contentType = 'text/plain') =>
  fetch(url, { method: 'PUT', body, headers: { 'if-match': ifMatch, 'content-type': contentType } })

describe.each(['seed', 'msc3886', 'msc4108'])('retried PUTs on %s sessions', (dialect) => {
  it('should accept the retry of a PUT whose answer was lost: 202, current ETag, nothing changed', async () => {
    const { url, etag } = await createThrough(dialect)
    await putAndHangUp(url, etag, 'B1')
    let applied = await currentState(url)
    for (let i = 0; applied.etag === etag && i < 100; i++) {
      await sleep(10)
      applied = await currentState(url)
    }
    expect(applied.body).toBe('B1')
    const retry = await put(url, etag, 'B1')
    expect(retry.status).toBe(202)
    expect(retry.headers.get('etag')).toBe(applied.etag)
    expect(retry.headers.get('expires')).not.toBeNull()
    expect(retry.headers.get('last-modified')).toBe(applied.lastModified)
    expect(await currentState(url)).toEqual(applied)
  })

  it('should answer 412 to the retry once someone else has written', async () => {
    const { url, etag } = await createThrough(dialect)
    const first = await put(url, etag, 'B1')
    expect(first.status).toBe(202)
    const other = await put(url, first.headers.get('etag')!, 'A2')
    expect(other.status).toBe(202)
    const retry = await put(url, etag, 'B1')
    expect(retry.status).toBe(412)
    expect(retry.headers.get('etag')).toBe(other.headers.get('etag'))
    expect((await currentState(url)).body).toBe('A2')
  })

  it('should answer 412 to a "retry" whose bytes or content type differ', async () => {
    const { url, etag } = await createThrough(dialect)
    const first = await put(url, etag, 'B1')
    const current = first.headers.get('etag')!
    expect((await put(url, etag, 'B2')).status).toBe(412)
    expect((await put(url, etag, 'B1', 'application/octet-stream')).status).toBe(412)
    const state = await currentState(url)
    expect(state).toMatchObject({ etag: current, body: 'B1' })
  })
})
