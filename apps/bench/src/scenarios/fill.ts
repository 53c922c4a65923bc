/**
 * @module Memory per live rendezvous: create N rendezvous of a given payload size and read how much
 * the server's resident memory grew, then check a sample still reads back exactly.
 */

import { HttpPool } from '../http.ts'
import { checkMessage, messagePayload } from '../payloads.ts'
import { Recorder } from '../recorder.ts'
import type { ServerProcess } from '../target.ts'

export interface FillOptions {
  readonly rendezvous: number
  readonly payloadBytes: number
  readonly connections: number
  /** Reads the memory of the Redis the server stores in, when it uses one. */
  readonly redisMemory: (() => Promise<number>) | null
}

export interface FillResult {
  readonly recorder: Recorder
  readonly bytesPerRendezvous: number | null
  readonly rssBeforeBytes: number | null
  readonly rssAfterBytes: number | null
  /** Growth of Redis's `used_memory` per rendezvous, when the server stores in Redis. */
  readonly redisBytesPerRendezvous: number | null
}

/** How long the server gets to return the garbage of the creation burst to the OS. */
const SETTLE_SECONDS = 15

/**
 * The server's RSS once it has settled: garbage from the burst of creations is returned to the OS
 * over several seconds, so we watch RSS for SETTLE_SECONDS and take the lowest reading.
 */
async function settledRss(server: ServerProcess): Promise<number> {
  let lowest = server.rssBytes()
  for (let i = 0; i < SETTLE_SECONDS; i++) {
    await Bun.sleep(1000)
    lowest = Math.min(lowest, server.rssBytes())
  }
  return lowest
}

export async function runFill(base: URL, options: FillOptions, server: ServerProcess | null): Promise<FillResult> {
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`
  const pool = new HttpPool(base.hostname, Number(base.port), options.connections)
  await Bun.sleep(500)
  const rssBeforeBytes = server?.rssBytes() ?? null
  const redisBefore = options.redisMemory ? await options.redisMemory() : null
  const recorder = new Recorder()
  const ids: string[] = new Array(options.rendezvous)
  let next = 0
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (next < options.rendezvous) {
        const i = next++
        const response = await recorder.send(
          pool,
          'create',
          { method: 'POST', path: prefix, body: messagePayload({ pair: i, handshake: 0, seq: 0 }, options.payloadBytes) },
          [200],
        )
        if (response?.status === 200) ids[i] = (JSON.parse(new TextDecoder().decode(response.body)) as { id: string }).id
        recorder.complete()
      }
    }),
  )
  const rssAfterBytes = server ? await settledRss(server) : null
  const redisAfter = options.redisMemory ? await options.redisMemory() : null
  // Everything created must still be there, byte for byte: check a sample of them.
  const step = Math.max(1, Math.floor(options.rendezvous / 1000))
  for (let i = 0; i < options.rendezvous; i += step) {
    const response = await recorder.send(pool, 'read', { method: 'GET', path: `${prefix}${ids[i]}` }, [200])
    if (response?.status === 200) {
      const mismatch = checkMessage({ pair: i, handshake: 0, seq: 0 }, options.payloadBytes, response.body)
      if (mismatch) recorder.error(`message ${mismatch}`)
    }
  }
  pool.close()
  const bytesPerRendezvous = rssBeforeBytes !== null && rssAfterBytes !== null ? (rssAfterBytes - rssBeforeBytes) / options.rendezvous : null
  const redisBytesPerRendezvous = redisBefore !== null && redisAfter !== null ? (redisAfter - redisBefore) / options.rendezvous : null
  return { recorder, bytesPerRendezvous, rssBeforeBytes, rssAfterBytes, redisBytesPerRendezvous }
}
