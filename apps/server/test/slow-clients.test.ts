/**
 * A handful of clients must not lock everyone out. Attackers on 50 loopback addresses open PUTs
 * that promise a body and never send it, at the server's default limits; a client on another
 * address meanwhile logs in on every dialect, refused never and never kept waiting a second.
 */

import { type Socket, connect } from 'node:net'
import { startTestRedis } from '@rendezvous/store/testing/redis'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EVERY_DIALECT } from './exchanges.ts'
import { type ServerProcess, listeningUrl, spawnMain } from './process.ts'
import { sleep } from './harness.ts'
import { SETTINGS } from '../src/config.ts'

const ATTACKERS = 50
/** Sockets each attacker opens at one live rendezvous: together more than the global in-flight bound (10,000). */
const PER_ATTACKER = 201
const perClientBound = Number(SETTINGS.find((s) => s.key === 'maxInFlightPerClient')!.default)

let child: ServerProcess
let origin: string
let port: number
const sockets: Socket[] = []

beforeAll(async () => {
  // Every limit at its default; only where to listen is chosen here.
  child = spawnMain(['--host', '127.0.0.1', '--port', '0', '--shutdown-drain', '0'])
  origin = (await listeningUrl(child.stderr, 15_000)).replace(/\/$/, '')
  port = Number(new URL(origin).port)
})

afterAll(() => {
  for (const socket of sockets) socket.destroy()
  child?.kill('SIGKILL')
})

interface SlowRequest {
  /** Settles with the status of the answer, or 0 while none has come. */
  status(): number
  readonly answered: Promise<number>
}

/** Sends a request head from `from` that promises `length` body bytes, and then nothing. */
function slowPut(from: string, path: string, length = 10_000): SlowRequest {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from })
  sockets.push(socket)
  let status = 0
  const answered = new Promise<number>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      const match = /^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'))
      if (match && status === 0) status = Number(match[1])
      resolve(status)
    })
    socket.on('error', () => resolve(status))
    socket.on('close', () => resolve(status))
  })
  socket.on('connect', () => socket.write(`PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n\r\n`))
  return { status: () => status, answered }
}

/** Creates a rendezvous from `from` (a raw request: fetch cannot choose its source address). */
function createFrom(from: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from })
    let text = ''
    socket.on('connect', () => socket.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx'))
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')))
    socket.on('end', () => {
      const body = text.slice(text.indexOf('\r\n\r\n') + 4)
      const match = /"id":"([^"]+)"/.exec(body)
      if (match) resolve(match[1]!)
      else reject(new Error(`create from ${from} failed: ${text.split('\r\n')[0]}`))
    })
    socket.on('error', reject)
  })
}

describe('slow bodies from many addresses', () => {
  it(`should hold each of ${ATTACKERS} attacking addresses to its own bound while another client logs in on every dialect`, async () => {
    const addresses = Array.from({ length: ATTACKERS }, (_, i) => `127.0.0.${i + 2}`)
    const ids = await Promise.all(addresses.map(createFrom))
    // Unknown ids cost no body time: they are answered at once, whatever the body promises.
    const unknown = Array.from({ length: 20 }, (_, i) => slowPut(`127.0.1.${i + 1}`, `/${'A'.repeat(21)}${String.fromCharCode(65 + i)}`))
    const unknownStarted = performance.now()
    const unknownStatuses = await Promise.all(unknown.map((r) => r.answered))
    expect(unknownStatuses).toEqual(unknown.map(() => 404))
    expect(performance.now() - unknownStarted).toBeLessThan(1000)

    const held: SlowRequest[] = []
    for (const [i, from] of addresses.entries()) {
      for (let n = 0; n < PER_ATTACKER; n++) held.push(slowPut(from, `/${ids[i]}`))
    }
    // Let every attacker socket reach the server and be admitted or refused.
    for (let i = 0; i < 100 && held.filter((r) => r.status() === 429).length < ATTACKERS * (PER_ATTACKER - perClientBound); i++) await sleep(50)
    const refused = held.filter((r) => r.status() === 429).length
    const waiting = held.filter((r) => r.status() === 0).length
    expect(refused).toBe(ATTACKERS * (PER_ATTACKER - perClientBound))
    expect(waiting).toBe(ATTACKERS * perClientBound)

    // The login on 127.0.0.1, with every attacker still holding its share.
    const slowest: { what: string; ms: number }[] = []
    const statuses: number[] = []
    for (const exchange of EVERY_DIALECT) {
      await exchange.run({
        origin,
        onRequest: (what, status, ms) => {
          statuses.push(status)
          slowest.push({ what: `${exchange.name}: ${what}`, ms })
        },
      })
    }
    expect(statuses).not.toContain(429)
    slowest.sort((a, b) => b.ms - a.ms)
    expect(slowest[0]!.ms, slowest[0]!.what).toBeLessThan(1000)
    // The attackers are still held, not let go to make room.
    expect(held.filter((r) => r.status() === 0).length).toBe(ATTACKERS * perClientBound)
  }, 60_000)
})

const redis = await startTestRedis('the test that rate-limit refusals never reach the store')
afterAll(() => redis?.close())

describe.skipIf(!redis)('a request refused by a rate limit', () => {
  it('should never reach the store: not one Redis command names its rendezvous', async () => {
    const limited = spawnMain(['--host', '127.0.0.1', '--port', '0', '--shutdown-drain', '0', '--rate-limit', '3/60'], {
      RENDEZVOUS_STORE: redis!.url,
      RENDEZVOUS_REDIS_PREFIX: redis!.uniquePrefix(),
    })
    const monitor = new Redis(redis!.url)
    let stopWatching = () => {}
    try {
      const base = await listeningUrl(limited.stderr)
      for (let i = 0; i < 200 && (await fetch(`${base}ready`)).status !== 200; i++) await sleep(10)
      const created = (await (await fetch(base, { method: 'POST', body: 'x' })).json()) as { id: string }
      const url = `${base}${created.id}`
      for (let i = 0; i < 3; i++) expect((await fetch(url)).status).toBe(200)
      const commands: string[] = []
      const watching = await monitor.monitor()
      watching.on('monitor', (_time: string, args: string[]) => commands.push(args.join(' ')))
      stopWatching = () => watching.disconnect()
      const refused = await Promise.all([
        ...Array.from({ length: 20 }, () => fetch(url)),
        ...Array.from({ length: 20 }, () => fetch(url, { method: 'PUT', body: 'y' })),
        ...Array.from({ length: 20 }, () => fetch(url, { method: 'DELETE' })),
      ])
      expect(refused.map((r) => r.status)).toEqual(refused.map(() => 429))
      // Long enough for the server's own once-a-second commands (health check, reclaim) to show.
      await sleep(1200)
      expect(commands.filter((c) => c.includes(created.id))).toEqual([])
      // The monitor saw the server's own traffic meanwhile, so it was listening.
      expect(commands.length).toBeGreaterThan(0)
    } finally {
      stopWatching()
      monitor.disconnect()
      limited.kill('SIGKILL')
    }
  })
})
