/**
 * @module Closed-loop throughput of one operation at C connections: each connection sends its next
 * request as soon as the last one is answered, for a fixed time. With several instances the
 * connections are dealt out among them in turn.
 */

import { type EncodedRequest, HttpPool, type HttpRequest, encodeRequest } from '../http.ts'
import { messagePayload } from '../payloads.ts'
import { Recorder } from '../recorder.ts'

export const OPERATIONS = ['create', 'get', 'get-304', 'put', 'delete'] as const
export type Operation = (typeof OPERATIONS)[number]

export interface OpsOptions {
  readonly operation: Operation
  readonly connections: number
  readonly payloadBytes: number
  /** Against a comparison server: same request shapes, no rendezvous to prepare. */
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
export async function prepareOps(bases: readonly URL[], options: OpsOptions): Promise<PreparedOps> {
  const prepare = new Recorder()
  const perBase = Math.ceil(options.connections / bases.length)
  const pools = bases.map((base) => new HttpPool(base.hostname, Number(base.port), perBase))
  const prefixes = bases.map((base) => (base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`))
  const body = messagePayload({ pair: 0, handshake: 0, seq: 0 }, options.payloadBytes)

  const workers = await Promise.all(
    Array.from({ length: options.connections }, async (_, connection): Promise<() => EncodedRequest | null> => {
      const pool = pools[connection % bases.length]!
      const prefix = prefixes[connection % bases.length]!
      // Every request is encoded before the clock starts: the loop only sends bytes and reads answers.
      const encode = (request: HttpRequest) => encodeRequest(pool.host, pool.port, request)
      const always = (request: HttpRequest) => {
        const encoded = encode(request)
        return () => encoded
      }
      /** Creates one rendezvous outside the measurement and returns its id and ETag. */
      const prepared = async (payload: Uint8Array): Promise<{ id: string; etag: string }> => {
        if (options.ceiling) return { id: 'x', etag: '"x"' }
        const response = await prepare.send(pool, 'prepare', { method: 'POST', path: prefix, body: payload }, [200])
        if (response?.status !== 200) throw new Error(`could not prepare a rendezvous: ${response?.status}`)
        return { id: (JSON.parse(new TextDecoder().decode(response.body)) as { id: string }).id, etag: response.header('etag')! }
      }

      if (options.operation === 'create') return always({ method: 'POST', path: prefix, body })
      if (options.operation === 'delete') {
        if (options.ceiling) return always({ method: 'DELETE', path: `${prefix}x` })
        const deletes: EncodedRequest[] = []
        for (let i = 0; i < DELETE_POOL_PER_CONNECTION; i++)
          deletes.push(encode({ method: 'DELETE', path: `${prefix}${(await prepared(new Uint8Array(0))).id}` }))
        let next = 0
        return () => (next < deletes.length ? deletes[next++]! : null)
      }
      const { id, etag } = await prepared(body)
      const path = `${prefix}${id}`
      switch (options.operation) {
        case 'get':
          return always({ method: 'GET', path })
        case 'get-304':
          return always({ method: 'GET', path, headers: { 'if-none-match': etag } })
        case 'put':
          return always({ method: 'PUT', path, body })
      }
    }),
  )

  const expected = options.ceiling ? [200, 202, 204] : { create: [200], get: [200], 'get-304': [304], put: [202], delete: [204] }[options.operation]
  return {
    async measure(seconds, recorder) {
      const started = performance.now()
      const deadline = started + seconds * 1000
      let lastActive = started
      await Promise.all(
        workers.map(async (next, connection) => {
          const pool = pools[connection % bases.length]!
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
    close: () => {
      for (const pool of pools) pool.close()
    },
  }
}
