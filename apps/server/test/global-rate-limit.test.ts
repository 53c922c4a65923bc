/**
 * RENDEZVOUS_RATE_LIMIT_SCOPE=global: one client spread over three instances on one Redis gets the
 * configured budget, not three times it; with the default scope each instance counts alone; while
 * Redis is away each instance's own buckets decide (the gate neither opens wide nor shuts).
 */

import { startTestRedis } from '@rendezvous/store/testing/redis'
import { afterAll, describe, expect, it } from 'vitest'
import { sleep } from './harness.ts'
import { listeningUrl, spawnMain } from './process.ts'

const redis = await startTestRedis('global rate limits across three instances on one Redis')
afterAll(() => redis?.close())

const BUDGET = 10

async function instances(scope: 'instance' | 'global', prefix: string) {
  return Promise.all(
    [0, 1, 2].map(async () => {
      const child = spawnMain(['--host', '127.0.0.1', '--port', '0', '--shutdown-drain', '0', '--rate-limit', `${BUDGET}/600`, '--rate-limit-scope', scope], {
        RENDEZVOUS_STORE: redis!.url,
        RENDEZVOUS_REDIS_PREFIX: prefix,
      })
      const base = await listeningUrl(child.stderr)
      for (let i = 0; i < 300 && (await fetch(`${base.replace(/\/$/, '')}/ready`)).status !== 200; i++) await sleep(10)
      return { child, base }
    }),
  )
}

/** `count` requests from one client, dealt out over the instances in turn; the statuses seen. */
async function spread(servers: { base: string }[], count: number): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${servers[i % servers.length]!.base}_rendezvous/info`)
    await response.arrayBuffer()
    statuses.push(response.status)
  }
  return statuses
}

describe.skipIf(!redis || redis.external)('rate limits across instances', () => {
  it('should give one client the budget once over three instances with the global scope, and fall back to each instance while Redis is away', async () => {
    const servers = await instances('global', redis!.uniquePrefix())
    try {
      const statuses = await spread(servers, 3 * BUDGET)
      expect(statuses.filter((s) => s === 200)).toHaveLength(BUDGET)
      expect(statuses.filter((s) => s === 429)).toHaveLength(2 * BUDGET)
      await redis!.stop()
      try {
        await sleep(300)
        // Each instance's own bucket, fresh: at most the budget each, and not nothing.
        const during = await spread(servers, 4 * BUDGET)
        expect(during.filter((s) => s === 200)).toHaveLength(3 * BUDGET)
      } finally {
        await redis!.start()
      }
    } finally {
      for (const server of servers) server.child.kill('SIGKILL')
    }
  }, 30_000)

  it('should give one client the budget at every instance with the instance scope', async () => {
    const servers = await instances('instance', redis!.uniquePrefix())
    try {
      const statuses = await spread(servers, 4 * BUDGET)
      expect(statuses.filter((s) => s === 200)).toHaveLength(3 * BUDGET)
    } finally {
      for (const server of servers) server.child.kill('SIGKILL')
    }
  }, 30_000)
})
