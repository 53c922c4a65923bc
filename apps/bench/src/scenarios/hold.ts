/**
 * @module Held long-polls: open W of them on W rendezvous, keep them, then write to each and
 * measure how long each waiter takes to wake, and what the server's memory grew by per waiter.
 * With several instances the waiters are held by the first and the writes go to the last, so every
 * wake-up crosses instances.
 */

import { HttpPool } from '../http.ts'
import { checkMessage, messagePayload } from '../payloads.ts'
import { Recorder } from '../recorder.ts'
import type { ServerProcess } from '../target.ts'

export interface HoldOptions {
  readonly waiters: number
  readonly payloadBytes: number
  /** `Prefer: wait=` of each long-poll; must outlast the whole scenario. */
  readonly waitSeconds: number
  /** How long all waiters are held before the writes start. */
  readonly holdSeconds: number
  /** Concurrent writers (and creators). */
  readonly writers: number
  /**
   * Writes per second once all waiters are held (0: as fast as the writers go). Pacing keeps the
   * writes from queueing behind each other, so the figure is wake-up latency, not backlog.
   */
  readonly writeRate: number
}

export interface HoldResult {
  readonly recorder: Recorder
  /** RSS growth per held request, when the server was spawned. */
  readonly bytesPerWaiter: number | null
  readonly rssBeforeBytes: number | null
  readonly rssHoldingBytes: number | null
}

export async function runHold(bases: readonly URL[], options: HoldOptions, server: ServerProcess | null, log: (line: string) => void): Promise<HoldResult> {
  const base = bases[0]!
  const writeBase = bases.at(-1)!
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`
  const setup = new Recorder()
  const control = new HttpPool(writeBase.hostname, Number(writeBase.port), Math.max(1, options.writers))
  const initial = messagePayload({ pair: 0, handshake: 0, seq: 0 }, options.payloadBytes)

  log(`creating ${options.waiters} rendezvous`)
  const sessions: { id: string; etag: string }[] = new Array(options.waiters)
  let next = 0
  await Promise.all(
    Array.from({ length: options.writers }, async () => {
      while (next < options.waiters) {
        const i = next++
        const response = await setup.send(control, 'create', { method: 'POST', path: prefix, body: initial }, [200])
        if (response?.status !== 200) throw new Error(`create failed: ${response?.status}`)
        sessions[i] = { id: (JSON.parse(new TextDecoder().decode(response.body)) as { id: string }).id, etag: response.header('etag')! }
      }
    }),
  )
  await settle()
  const rssBeforeBytes = server?.rssBytes() ?? null

  log(`opening ${options.waiters} long-polls`)
  const recorder = new Recorder()
  const waiterPool = new HttpPool(base.hostname, Number(base.port), options.waiters)
  const writtenAt = new Float64Array(options.waiters)
  const woken = sessions.map(async ({ id, etag }, i) => {
    const response = await recorder.send(
      waiterPool,
      'long-poll',
      { method: 'GET', path: `${prefix}${id}`, headers: { 'if-none-match': etag, prefer: `wait=${options.waitSeconds}` } },
      [200],
    )
    if (response?.status !== 200) return
    recorder.latency('write-to-wake', (performance.now() - writtenAt[i]!) * 1000)
    const mismatch = checkMessage({ pair: i, handshake: 0, seq: 1 }, options.payloadBytes, response.body)
    if (mismatch) recorder.error(`message ${mismatch}`)
    recorder.complete()
  })
  // Let every long-poll reach the server before measuring.
  await Bun.sleep(Math.max(1000, options.waiters / 5))
  await Bun.sleep(options.holdSeconds * 1000)
  await settle()
  const rssHoldingBytes = server?.rssBytes() ?? null

  log(`writing to ${options.waiters} rendezvous${options.writeRate > 0 ? ` at ${options.writeRate}/s` : ''}`)
  const write = (i: number) => {
    writtenAt[i] = performance.now()
    return recorder.send(
      control,
      'put',
      { method: 'PUT', path: `${prefix}${sessions[i]!.id}`, body: messagePayload({ pair: i, handshake: 0, seq: 1 }, options.payloadBytes) },
      [202],
    )
  }
  if (options.writeRate > 0) {
    const started = performance.now()
    const writes: Promise<unknown>[] = []
    for (let i = 0; i < options.waiters; i++) {
      const due = started + (i * 1000) / options.writeRate
      const wait = due - performance.now()
      if (wait > 1) await Bun.sleep(wait)
      writes.push(write(i))
    }
    await Promise.all(writes)
  } else {
    next = 0
    await Promise.all(
      Array.from({ length: options.writers }, async () => {
        while (next < options.waiters) await write(next++)
      }),
    )
  }
  await Promise.all(woken)
  waiterPool.close()
  control.close()
  const bytesPerWaiter = rssBeforeBytes !== null && rssHoldingBytes !== null ? (rssHoldingBytes - rssBeforeBytes) / options.waiters : null
  return { recorder, bytesPerWaiter, rssBeforeBytes, rssHoldingBytes }
}

/** Gives the server a moment to finish what it was doing before memory is read. */
function settle(): Promise<void> {
  return Bun.sleep(500)
}
