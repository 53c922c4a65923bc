/**
 * Two server instances on a real Redis Cluster (three primaries with a replica each): every
 * dialect's login with device A on one instance and device B on the other, a long-poll on one woken
 * by a write through the other, capacity exact across instances, and a primary SIGKILLed under
 * traffic: requests meanwhile are answered at once (200 or 503, never 500), and every login started
 * after the cluster has recovered completes.
 */

import { startTestCluster } from '@rendezvous/store/testing/cluster'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exchangeOnEveryDialect } from './exchanges.ts'
import { create, sleep } from './harness.ts'
import { type ServerProcess, listeningUrl, spawnMain } from './process.ts'

const cluster = await startTestCluster('two instances on a Redis Cluster')
afterAll(() => cluster?.close())

const running: ServerProcess[] = []
afterAll(() => {
  for (const child of running) child.kill('SIGKILL')
})

async function instance(prefix: string, args: string[] = []) {
  const child = spawnMain(
    [
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--shutdown-drain',
      '0',
      '--rate-limit',
      'off',
      '--create-rate-limit',
      'off',
      '--max-in-flight-per-client',
      'off',
      ...args,
    ],
    {
      RENDEZVOUS_STORE: cluster!.url,
      RENDEZVOUS_REDIS_PREFIX: prefix,
    },
  )
  running.push(child)
  const base = await listeningUrl(child.stderr)
  const origin = base.replace(/\/$/, '')
  for (let i = 0; i < 300 && (await fetch(`${origin}/ready`)).status !== 200; i++) await sleep(10)
  return { child, base, origin }
}

describe.skipIf(!cluster)('two instances on a Redis Cluster', () => {
  let one: Awaited<ReturnType<typeof instance>>
  let two: Awaited<ReturnType<typeof instance>>
  beforeAll(async () => {
    const prefix = `rz-cluster-${process.pid}:`
    ;[one, two] = await Promise.all([instance(prefix), instance(prefix)])
  }, 30_000)

  it('should say it runs on a cluster in _rendezvous/info', async () => {
    const info = (await (await fetch(`${one.base}_rendezvous/info`)).json()) as Record<string, unknown>
    expect(info).toMatchObject({ store: 'redis', store_topology: 'cluster', store_eviction_policy: 'noeviction' })
  })

  it('should complete every dialect with the two devices on different instances', async () => {
    expect(await exchangeOnEveryDialect({ origin: one.origin, joinOrigin: two.origin })).toHaveLength(7)
    expect(await exchangeOnEveryDialect({ origin: two.origin, joinOrigin: one.origin })).toHaveLength(7)
  }, 30_000)

  it('should wake a long-poll held on one instance with a write through the other', async () => {
    const { id, etag } = await create({ base: one.base }, 'from A')
    const waiting = fetch(`${one.base}${id}`, { headers: { 'if-none-match': etag, prefer: 'wait=10' } })
    await sleep(100)
    const written = performance.now()
    expect((await fetch(`${two.base}${id}`, { method: 'PUT', body: 'from B' })).status).toBe(202)
    const woken = await waiting
    expect(woken.status).toBe(200)
    expect(await woken.text()).toBe('from B')
    expect(performance.now() - written).toBeLessThan(1000)
  }, 20_000)

  it('should hold the session limit exactly across instances and groups', async () => {
    const prefix = `rz-cluster-cap-${process.pid}:`
    const limited = await Promise.all([instance(prefix, ['--max-sessions', '32']), instance(prefix, ['--max-sessions', '32'])])
    const statuses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(limited[i % 2]!.base, { method: 'POST', body: `n${i}` }).then(async (r) => {
          await r.arrayBuffer()
          return r.status
        }),
      ),
    )
    expect(statuses.filter((s) => s === 200)).toHaveLength(32)
    expect(statuses.filter((s) => s === 429)).toHaveLength(8)
    for (const server of limited) server.child.kill('SIGKILL')
  }, 30_000)

  it('should answer at once through a primary failover and complete every login started after it', async () => {
    const seen: number[] = []
    const slow: number[] = []
    let traffic = true
    const load = (async () => {
      while (traffic) {
        const started = performance.now()
        const response = await fetch(one.base, { method: 'POST', body: 'during' }).catch(() => null)
        if (response) {
          await response.arrayBuffer()
          seen.push(response.status)
          if (performance.now() - started > 3000) slow.push(performance.now() - started)
        }
        await sleep(20)
      }
    })()
    await sleep(200)
    await cluster!.killPrimary()
    await cluster!.recovered()
    // The instances find the new primary on their next MOVED or slot refresh.
    for (const server of [one, two]) {
      for (let i = 0; i < 300 && (await fetch(`${server.origin}/ready`)).status !== 200; i++) await sleep(10)
    }
    await sleep(500)
    traffic = false
    await load
    expect(seen.every((status) => status === 200 || status === 503)).toBe(true)
    expect(slow).toEqual([])
    for (let round = 0; round < 3; round++) {
      expect(await exchangeOnEveryDialect({ origin: one.origin, joinOrigin: two.origin })).toHaveLength(7)
    }
  }, 60_000)
})
