/**
 * What an idle process costs Redis, for services that bill per command: with the default
 * housekeeping a PING and a reclaim a second; with RENDEZVOUS_REDIS_HOUSEKEEPING_SECONDS=5 one of
 * each every five seconds. Counted with MONITOR on a real redis-server.
 */

import { startTestRedis } from '@rendezvous/store/testing/redis'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { sleep } from './harness.ts'
import { listeningUrl, spawnMain } from './process.ts'

const redis = await startTestRedis('the idle cost of a process on Redis')
afterAll(() => redis?.close())

/** Commands an idle server sends Redis in `seconds`, after it has settled. */
async function idleCommands(args: string[], seconds: number): Promise<number> {
  const child = spawnMain(['--host', '127.0.0.1', '--port', '0', ...args], { RENDEZVOUS_STORE: redis!.url, RENDEZVOUS_REDIS_PREFIX: redis!.uniquePrefix() })
  const monitorClient = new Redis(redis!.url)
  try {
    await listeningUrl(child.stderr)
    await sleep(1500)
    const monitor = await monitorClient.monitor()
    let count = 0
    monitor.on('monitor', (_time: string, args: string[]) => {
      // Scripts' own commands are reported too; count what the client sent.
      if (['ping', 'evalsha', 'eval', 'hmget', 'exists'].includes(String(args[0]).toLowerCase())) count++
    })
    await sleep(seconds * 1000)
    monitor.disconnect()
    return count
  } finally {
    monitorClient.disconnect()
    child.kill('SIGKILL')
  }
}

describe.skipIf(!redis || redis.external)('an idle process on Redis', () => {
  it('should send a PING and a reclaim a second by default, and five times fewer with RENDEZVOUS_REDIS_HOUSEKEEPING_SECONDS=5', async () => {
    // One at a time: MONITOR sees every client of the Redis.
    const often = await idleCommands([], 5)
    const seldom = await idleCommands(['--redis-housekeeping', '5'], 5)
    expect(often).toBeGreaterThanOrEqual(8)
    expect(often).toBeLessThanOrEqual(12)
    expect(seldom).toBeLessThanOrEqual(3)
  }, 30_000)
})
