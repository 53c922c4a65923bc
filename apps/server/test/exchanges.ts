/**
 * @module A login's worth of messages on every dialect, over plain HTTP, the way each dialect's
 * clients send them: create with the first message, join, reply under a condition, wait for the
 * reply (a long-poll on the ETag dialects), answer, cancel. Shared by the tests that must show a
 * whole server working from outside: next to attackers, in a container, on a Redis cluster.
 * Every request is timed and checked; an unexpected status fails the exchange with its name.
 */

import { MSC3886_PATH, MSC4108_PATH, MSC4388_PATHS } from '@rendezvous/protocol'

export interface ExchangeOptions {
  /** Where device A creates: `http://host:port` (the Matrix paths) with the prefix `/`. */
  readonly origin: string
  /** Where device B reaches the session, e.g. another instance; by default where A got it. */
  readonly joinOrigin?: string
  /** Told of every request: what it was, its status, how long it took. */
  readonly onRequest?: (what: string, status: number, ms: number) => void
  /** Sent as `Authorization: Bearer` on creates. */
  readonly token?: string
}

export interface Exchange {
  readonly name: string
  run(options: ExchangeOptions): Promise<void>
}

/** Every dialect, and every write form of MSC4388 on both of its paths. */
export const EVERY_DIALECT: readonly Exchange[] = [
  { name: 'seed (POST /)', run: (o) => etagExchange(o, 'seed') },
  { name: 'MSC3886', run: (o) => etagExchange(o, 'msc3886') },
  { name: 'MSC4108', run: (o) => etagExchange(o, 'msc4108') },
  ...MSC4388_PATHS.flatMap((path) => [
    { name: `MSC4388 ${path} PUT /{id}`, run: (o: ExchangeOptions) => msc4388Exchange(o, path, 'plain') },
    { name: `MSC4388 ${path} PUT /{id}/{txnId}`, run: (o: ExchangeOptions) => msc4388Exchange(o, path, 'transaction') },
  ]),
]

/** Runs every exchange in turn; returns their names. */
export async function exchangeOnEveryDialect(options: ExchangeOptions): Promise<string[]> {
  for (const exchange of EVERY_DIALECT) {
    try {
      await exchange.run(options)
    } catch (error) {
      throw new Error(`${exchange.name}: ${(error as Error).message}`)
    }
  }
  return EVERY_DIALECT.map((e) => e.name)
}

type Requester = (what: string, url: string, init: RequestInit, expected: number) => Promise<Response>

function requester(options: ExchangeOptions): Requester {
  return async (what, url, init, expected) => {
    const started = performance.now()
    const response = await fetch(url, init)
    const ms = performance.now() - started
    options.onRequest?.(what, response.status, ms)
    if (response.status !== expected) throw new Error(`${what}: expected ${expected}, got ${response.status} ${await response.text()}`)
    return response
  }
}

function rebase(url: string, origin: string | undefined): string {
  if (origin === undefined) return url
  const parsed = new URL(url)
  return `${origin}${parsed.pathname}`
}

/** The seed, MSC3886 and MSC4108 exchange: raw payloads, ETags, a long-poll for the reply. */
async function etagExchange(options: ExchangeOptions, dialect: 'seed' | 'msc3886' | 'msc4108'): Promise<void> {
  const request = requester(options)
  const auth: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {}
  const createPath = { seed: '/', msc3886: MSC3886_PATH, msc4108: MSC4108_PATH }[dialect]
  const created = await request(
    'create',
    `${options.origin}${createPath}`,
    { method: 'POST', body: 'hello from A', headers: { 'content-type': 'text/plain', ...auth } },
    dialect === 'seed' ? 200 : 201,
  )
  let url: string
  if (dialect === 'seed') url = ((await created.json()) as { url: string }).url
  else if (dialect === 'msc4108') url = ((await created.json()) as { url: string }).url
  else url = created.headers.get('location')!
  let etagA = created.headers.get('etag')!
  if (dialect === 'msc3886') await created.arrayBuffer()

  const joinUrl = rebase(url, options.joinOrigin)
  const read = await request('B reads', joinUrl, {}, 200)
  if ((await read.text()) !== 'hello from A') throw new Error('B read the wrong message')
  const etagB = read.headers.get('etag')!
  // A waits for B's answer while B writes it.
  const waiting = request('A long-polls', url, { headers: { 'if-none-match': etagA, prefer: 'wait=10' } }, 200)
  const written = await request('B writes', joinUrl, { method: 'PUT', body: 'hello from B', headers: { 'if-match': etagB, 'content-type': 'text/plain' } }, 202)
  await written.arrayBuffer()
  const reply = await waiting
  if ((await reply.text()) !== 'hello from B') throw new Error('A read the wrong reply')
  etagA = reply.headers.get('etag')!
  const answered = await request('A writes', url, { method: 'PUT', body: 'reply from A', headers: { 'if-match': etagA, 'content-type': 'text/plain' } }, 202)
  await answered.arrayBuffer()
  const last = await request('B reads again', joinUrl, { headers: { 'if-none-match': written.headers.get('etag')! } }, 200)
  if ((await last.text()) !== 'reply from A') throw new Error('B read the wrong answer')
  await (await request('A cancels', url, { method: 'DELETE' }, 204)).arrayBuffer()
  await (await request('B sees it gone', joinUrl, {}, 404)).arrayBuffer()
}

/** The MSC4388 exchange: JSON bodies and sequence tokens, polling as its clients do. */
async function msc4388Exchange(options: ExchangeOptions, path: string, form: 'plain' | 'transaction'): Promise<void> {
  const request = requester(options)
  const json = { 'content-type': 'application/json' }
  const auth: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {}
  const discovery = (await (await request('discovery', `${options.origin}${path}`, { headers: auth }, 200)).json()) as { create_available: boolean }
  if (!discovery.create_available) throw new Error('discovery says creating is not available')
  const created = (await (
    await request('create', `${options.origin}${path}`, { method: 'POST', body: JSON.stringify({ data: 'hello from A' }), headers: { ...json, ...auth } }, 200)
  ).json()) as { id: string; sequence_token: string }
  const url = `${options.origin}${path}/${created.id}`
  const joinUrl = rebase(url, options.joinOrigin)
  let transaction = 0
  const write = async (what: string, at: string, token: string, data: string) => {
    const target = form === 'plain' ? at : `${at}/t${transaction++}`
    const answer = await request(what, target, { method: 'PUT', body: JSON.stringify({ sequence_token: token, data }), headers: json }, 200)
    return ((await answer.json()) as { sequence_token: string }).sequence_token
  }
  const read = async (what: string, at: string) => (await (await request(what, at, {}, 200)).json()) as { data: string; sequence_token: string }

  const joined = await read('B reads', joinUrl)
  if (joined.data !== 'hello from A') throw new Error('B read the wrong message')
  const afterB = await write('B writes', joinUrl, joined.sequence_token, 'hello from B')
  const reply = await read('A reads', url)
  if (reply.data !== 'hello from B' || reply.sequence_token !== afterB) throw new Error('A read the wrong reply')
  await write('A writes', url, reply.sequence_token, 'reply from A')
  if ((await read('B reads again', joinUrl)).data !== 'reply from A') throw new Error('B read the wrong answer')
  await (await request('A cancels', url, { method: 'DELETE' }, 200)).arrayBuffer()
  await (await request('B sees it gone', joinUrl, {}, 404)).arrayBuffer()
}
