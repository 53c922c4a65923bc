/**
 * A Redis that may evict keys (any `maxmemory-policy` but `noeviction`) can drop live logins: the
 * server says so loudly in its log, in `_rendezvous/info`, in a metric, and the doctor names it.
 * The books themselves are rebuilt by the store (see the store's Redis tests).
 */

import { startTestRedis } from '@rendezvous/store/testing/redis'
import { afterAll, describe, expect, it } from 'vitest'
import { runChecks } from '../src/doctor/checks.ts'
import { freeMetricsListen, logLines, spawnMain } from './process.ts'

const lru = await startTestRedis('eviction policy warnings (a Redis under allkeys-lru)', { args: ['--maxmemory-policy', 'allkeys-lru'] })
const safe = await startTestRedis('eviction policy warnings (a Redis under noeviction)')
afterAll(async () => {
  await lru?.close()
  await safe?.close()
})

async function serverOn(url: string) {
  const { url: metricsUrl, ...metricsListen } = await freeMetricsListen()
  const child = spawnMain(['--host', '127.0.0.1', '--port', '0', '--shutdown-drain', '0'], {
    RENDEZVOUS_STORE: url,
    RENDEZVOUS_REDIS_PREFIX: 'rz-eviction:',
    ...metricsListen,
  })
  const log = logLines(child.stderr)
  const lines = await log.until((all) => all.some((l) => l['msg'] === 'listening'))
  const base = lines.find((l) => l['msg'] === 'listening')!['url'] as string
  const origin = base.replace(/\/$/, '')
  for (let i = 0; i < 200 && (await fetch(`${origin}/ready`)).status !== 200; i++) await Bun.sleep(10)
  return { child, log, base, origin, metricsUrl }
}

describe.skipIf(!lru || !safe)('a Redis that may evict', () => {
  it('should be warned about in the log, _rendezvous/info, /metrics and by the doctor', async () => {
    const server = await serverOn(lru!.url)
    try {
      const lines = await server.log.until((all) => all.some((l) => l['msg'] === 'store may lose rendezvous'))
      const warning = lines.find((l) => l['msg'] === 'store may lose rendezvous')!
      expect(warning['level']).toBe('warn')
      expect(String(warning['detail'])).toContain('allkeys-lru')
      const info = (await (await fetch(`${server.base}_rendezvous/info`)).json()) as Record<string, unknown>
      expect(info['store_eviction_policy']).toBe('allkeys-lru')
      const metrics = await (await fetch(server.metricsUrl)).text()
      expect(metrics).toMatch(/^rendezvous_store_eviction_policy\{policy="allkeys-lru"\} 1$/m)
      const results = await runChecks({ url: server.base, fullWait: false })
      const check = results.find((r) => r.id === 'store-eviction')
      expect(check?.status).toBe('fail')
      expect(check?.detail).toContain('noeviction')
    } finally {
      server.child.kill('SIGKILL')
    }
  }, 30_000)

  it('should say noeviction and pass the doctor on a Redis that keeps everything', async () => {
    const server = await serverOn(safe!.url)
    try {
      const info = (await (await fetch(`${server.base}_rendezvous/info`)).json()) as Record<string, unknown>
      expect(info['store_eviction_policy']).toBe('noeviction')
      expect(info['store_topology']).toBe('single')
      const results = await runChecks({ url: server.base, fullWait: false })
      expect(results.find((r) => r.id === 'store-eviction')?.status).toBe('pass')
    } finally {
      server.child.kill('SIGKILL')
    }
  }, 30_000)
})
