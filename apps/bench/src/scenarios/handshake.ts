/**
 * @module The login exchange real clients do: A creates, B reads, A waits for B, B writes with
 * If-Match, A reads, A replies, B reads the reply, A deletes. Waiting is polling with
 * If-None-Match every `pollIntervalMs` (as Matrix clients do), or long-poll.
 *
 * Closed loop: P device pairs each run handshakes back to back. Open loop (`rate`): a handshake
 * starts every 1/rate seconds whatever the earlier ones are doing, as logins arrive in the field,
 * so a server that falls behind builds a backlog that shows in the tail instead of slowing the load.
 * Device A and device B use separate connections; with several instances A talks to one and B to
 * the next.
 */

import { HttpPool, type HttpResponse } from '../http.ts'
import { type MessageId, checkMessage, messagePayload } from '../payloads.ts'
import type { Recorder } from '../recorder.ts'

export interface HandshakeOptions {
  /** Closed loop: pairs running handshakes back to back (ignored with `rate`). */
  readonly pairs: number
  /** Open loop: handshakes started per second, or null for the closed loop. */
  readonly rate: number | null
  /** Stop after this many handshakes in all (null: run until the deadline). */
  readonly handshakes: number | null
  /** Stop starting new handshakes after this many seconds (null: until the count is reached). */
  readonly durationSeconds: number | null
  /** B→A then A→B exchanges per handshake. */
  readonly messages: number
  readonly payloadBytes: number
  readonly pollIntervalMs: number
  readonly longPoll: boolean
  /** `Prefer: wait=` sent with long-polls. */
  readonly waitSeconds: number
  /** Keep-alive connections per device side (A's and B's pools each). */
  readonly connections: number
}

/** A device's view of the rendezvous: the last ETag it has seen, and where it talks to. */
interface Device {
  etag: string
  readonly pool: HttpPool
  readonly prefix: string
}

/** Runs handshakes against `bases` (one per instance) until the count or the time is up. */
export async function runHandshakes(bases: readonly URL[], options: HandshakeOptions, recorder: Recorder): Promise<void> {
  const poolsA = bases.map((base) => new HttpPool(base.hostname, Number(base.port), options.connections))
  const poolsB = bases.map((base) => new HttpPool(base.hostname, Number(base.port), options.connections))
  const prefixOf = (base: URL) => (base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`)
  const deadline = options.durationSeconds === null ? Number.POSITIVE_INFINITY : performance.now() + options.durationSeconds * 1000
  let started = 0
  const takeHandshake = (): number | null => {
    if (options.handshakes !== null && started >= options.handshakes) return null
    if (performance.now() >= deadline) return null
    return started++
  }

  /** Waits until the rendezvous moves past `device.etag`; returns the new payload, or null if it went away. */
  async function waitForPeer(id: string, device: Device, writeSentAt: { at: number }): Promise<HttpResponse | null> {
    for (;;) {
      const headers: Record<string, string> = { 'if-none-match': device.etag }
      if (options.longPoll) headers['prefer'] = `wait=${options.waitSeconds}`
      const op = options.longPoll ? 'long-poll' : 'poll'
      const response = await recorder.send(device.pool, op, { method: 'GET', path: `${device.prefix}${id}`, headers }, [200, 304])
      if (!response || (response.status !== 200 && response.status !== 304)) return null
      if (response.status === 200) {
        recorder.latency('delivery', (performance.now() - writeSentAt.at) * 1000)
        device.etag = response.header('etag') ?? ''
        return response
      }
      if (!options.longPoll) await Bun.sleep(options.pollIntervalMs)
    }
  }

  function verify(response: HttpResponse, expected: MessageId): boolean {
    const mismatch = checkMessage(expected, options.payloadBytes, response.body)
    if (mismatch) recorder.error(`message ${mismatch}`)
    return mismatch === null
  }

  /**
   * `writer` writes `message` with If-Match while `reader` is already waiting for it; true when the
   * reader got exactly that message.
   */
  async function deliver(id: string, writer: Device, reader: Device, message: MessageId): Promise<boolean> {
    const sent = { at: performance.now() }
    const [read] = await Promise.all([
      waitForPeer(id, reader, sent),
      (async () => {
        sent.at = performance.now()
        const body = messagePayload(message, options.payloadBytes)
        const put = await recorder.send(writer.pool, 'put', { method: 'PUT', path: `${writer.prefix}${id}`, body, headers: { 'if-match': writer.etag } }, [202])
        if (put?.status === 202) writer.etag = put.header('etag') ?? ''
      })(),
    ])
    return read !== null && verify(read, message)
  }

  async function handshake(pair: number, n: number): Promise<void> {
    const startedAt = performance.now()
    const message = (seq: number): MessageId => ({ pair, handshake: n, seq })
    const instanceA = n % bases.length
    const instanceB = (n + 1) % bases.length
    const a: Device = { etag: '', pool: poolsA[instanceA]!, prefix: prefixOf(bases[instanceA]!) }
    const b: Device = { etag: '', pool: poolsB[instanceB]!, prefix: prefixOf(bases[instanceB]!) }

    const created = await recorder.send(
      a.pool,
      'create',
      { method: 'POST', path: a.prefix, body: messagePayload(message(0), options.payloadBytes), headers: { 'content-type': 'application/octet-stream' } },
      [200],
    )
    if (created?.status !== 200) return
    const { id } = JSON.parse(new TextDecoder().decode(created.body)) as { id: string }
    a.etag = created.header('etag') ?? ''

    const first = await recorder.send(b.pool, 'read', { method: 'GET', path: `${b.prefix}${id}` }, [200])
    if (first?.status !== 200 || !verify(first, message(0))) return
    b.etag = first.header('etag') ?? ''

    for (let round = 0; round < options.messages; round++) {
      if (!(await deliver(id, b, a, message(2 * round + 1)))) return
      if (!(await deliver(id, a, b, message(2 * round + 2)))) return
    }

    const deleted = await recorder.send(a.pool, 'delete', { method: 'DELETE', path: `${a.prefix}${id}` }, [204])
    if (deleted?.status !== 204) return
    recorder.latency('handshake', (performance.now() - startedAt) * 1000)
    recorder.complete()
  }

  if (options.rate === null) {
    await Promise.all(
      Array.from({ length: options.pairs }, async (_, pair) => {
        for (let n = takeHandshake(); n !== null; n = takeHandshake()) await handshake(pair, n)
      }),
    )
  } else {
    // Open loop: start on schedule, never wait for earlier handshakes. The schedule, not the clock
    // at the end, decides how many: rate × duration (or the count given).
    const running: Promise<void>[] = []
    const interval = 1000 / options.rate
    const scheduled = Math.min(
      options.handshakes ?? Number.POSITIVE_INFINITY,
      options.durationSeconds === null ? Number.POSITIVE_INFINITY : Math.round(options.rate * options.durationSeconds),
    )
    const t0 = performance.now()
    for (let n = 0; n < scheduled; n++) {
      const due = t0 + n * interval
      const wait = due - performance.now()
      if (wait > 1) await Bun.sleep(wait)
      running.push(handshake(n, n))
    }
    await Promise.all(running)
  }
  for (const pool of [...poolsA, ...poolsB]) pool.close()
}
