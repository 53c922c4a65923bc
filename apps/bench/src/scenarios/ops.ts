/**
 * @module Closed-loop throughput of one operation at C connections: each connection sends its next
 * request as soon as the last one is answered, for a fixed time.
 */

import { HttpPool, type HttpRequest } from '../http.ts'
import { messagePayload } from '../payloads.ts'
import { Recorder } from '../recorder.ts'

export const OPERATIONS = ['create', 'get', 'get-304', 'put', 'delete'] as const
export type Operation = (typeof OPERATIONS)[number]

export interface OpsOptions {
  readonly operation: Operation
  readonly connections: number
  readonly durationSeconds: number
  readonly payloadBytes: number
  /** Against the bare ceiling server: same request shapes, no rendezvous to prepare. */
  readonly ceiling: boolean
}

/** Rendezvous prepared for `delete`, per connection, before the clock starts. */
const DELETE_POOL_PER_CONNECTION = 2000

/** An operation ready to be measured: its connections and prepared rendezvous are in place. */
export interface PreparedOps {
  /**
   * Runs the closed loop for `seconds`, recording into `recorder`. Returns the seconds it really
   * ran: less when `delete` used up its prepared ids early.
   */
  measure(seconds: number, recorder: Recorder): Promise<number>
  close(): void
}

/** Prepares what the operation needs (untimed): a rendezvous per connection, ids to delete. */
export async function prepareOps(base: URL, options: OpsOptions): Promise<PreparedOps> {
  const prepare = new Recorder()
  const pool = new HttpPool(base.hostname, Number(base.port), options.connections)
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`
  const body = messagePayload({ pair: 0, handshake: 0, seq: 0 }, options.payloadBytes)

  /** Creates one rendezvous outside the measurement and returns its id and ETag. */
  async function prepared(payload: Uint8Array): Promise<{ id: string; etag: string }> {
    if (options.ceiling) return { id: 'x', etag: '"x"' }
    const response = await prepare.send(pool, 'prepare', { method: 'POST', path: prefix, body: payload }, [200])
    if (response?.status !== 200) throw new Error(`could not prepare a rendezvous: ${response?.status}`)
    return { id: (JSON.parse(new TextDecoder().decode(response.body)) as { id: string }).id, etag: response.headers.get('etag')! }
  }

  const workers = await Promise.all(
    Array.from({ length: options.connections }, async (): Promise<() => HttpRequest | null> => {
      if (options.operation === 'create') return () => ({ method: 'POST', path: prefix, body })
      if (options.operation === 'delete') {
        if (options.ceiling) return () => ({ method: 'DELETE', path: `${prefix}x` })
        const ids: string[] = []
        for (let i = 0; i < DELETE_POOL_PER_CONNECTION; i++) ids.push((await prepared(new Uint8Array(0))).id)
        let next = 0
        return () => (next < ids.length ? { method: 'DELETE', path: `${prefix}${ids[next++]}` } : null)
      }
      const { id, etag } = await prepared(body)
      const path = `${prefix}${id}`
      switch (options.operation) {
        case 'get':
          return () => ({ method: 'GET', path })
        case 'get-304':
          return () => ({ method: 'GET', path, headers: { 'if-none-match': etag } })
        case 'put':
          return () => ({ method: 'PUT', path, body })
      }
    }),
  )

  const expected = options.ceiling ? [200, 202] : { create: [200], get: [200], 'get-304': [304], put: [202], delete: [204] }[options.operation]
  return {
    async measure(seconds, recorder) {
      const started = performance.now()
      const deadline = started + seconds * 1000
      let lastActive = started
      await Promise.all(
        workers.map(async (next) => {
          while (performance.now() < deadline) {
            const request = next()
            if (request === null) break
            await recorder.send(pool, options.operation, request, expected)
            recorder.complete()
          }
          lastActive = Math.max(lastActive, performance.now())
        }),
      )
      return (lastActive - started) / 1000
    },
    close: () => pool.close(),
  }
}
