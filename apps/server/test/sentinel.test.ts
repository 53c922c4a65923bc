/**
 * A server on a Sentinel-managed Redis (a primary, a replica, three sentinels, all real), through a
 * failover: the primary is SIGKILLed while logins run. While the sentinels elect a new primary every
 * request answers at once (503 with Retry-After where the store was needed, never 500) and /ready is
 * 503; within the failover time plus 2 s the server follows the new primary by itself; logins
 * started after it complete on every dialect, and long-polls are woken by later writes. With
 * RENDEZVOUS_REDIS_WAIT_REPLICAS=1 no acknowledged write is lost across the failover.
 */

import { startTestSentinels } from '@rendezvous/store/testing/sentinel'
import { describe, expect, it } from 'vitest'
import { exchangeOnEveryDialect } from './exchanges.ts'
import { create, sleep } from './harness.ts'
import { listeningUrl, spawnMain } from './process.ts'

async function serverOn(url: string, env: Record<string, string> = {}) {
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
      '--max-wait',
      '20',
    ],
    {
      RENDEZVOUS_STORE: url,
      RENDEZVOUS_REDIS_PREFIX: `rz-sentinel-${process.pid}-${Date.now()}:`,
      ...env,
    },
  )
  const base = await listeningUrl(child.stderr)
  const origin = base.replace(/\/$/, '')
  for (let i = 0; i < 300 && (await fetch(`${origin}/ready`)).status !== 200; i++) await sleep(10)
  return { child, base, origin }
}

describe('Redis through Sentinel', () => {
  it('should answer at once through a failover, follow the new primary within 2 s of it, and complete every login after it', async () => {
    const topology = await startTestSentinels('a server through a Sentinel failover')
    if (!topology) return
    const server = await serverOn(topology.url)
    try {
      expect(await exchangeOnEveryDialect({ origin: server.origin })).toHaveLength(7)
      const before = await create({ base: server.base }, 'made before the failover')
      await sleep(200)

      // Logins' worth of traffic every 20 ms through the failover, each answer timed.
      const seen: { status: number; ms: number; retryAfter: string | null; at: number }[] = []
      let traffic = true
      const load = (async () => {
        while (traffic) {
          const started = performance.now()
          const response = await fetch(server.base, { method: 'POST', body: 'during' }).catch(() => null)
          if (response) {
            await response.arrayBuffer()
            seen.push({ status: response.status, ms: performance.now() - started, retryAfter: response.headers.get('retry-after'), at: performance.now() })
          }
          await sleep(20)
        }
      })()
      const readiness: number[] = []
      const watchReady = (async () => {
        while (traffic) {
          readiness.push((await fetch(`${server.origin}/ready`)).status)
          await sleep(50)
        }
      })()
      // A long-poll held when the primary dies is answered, not left hanging.
      const heldBefore = fetch(`${server.base}${before.id}`, { headers: { 'if-none-match': before.etag, prefer: 'wait=20' } })

      const killedPort = await topology.killPrimary()
      const killedAt = performance.now()
      await topology.failedOverFrom(killedPort)
      const failedOverAt = performance.now()
      let readyAt = Number.NaN
      for (let i = 0; i < 400; i++) {
        if ((await fetch(`${server.origin}/ready`)).status === 200) {
          readyAt = performance.now()
          break
        }
        await sleep(10)
      }
      await sleep(300)
      traffic = false
      await Promise.all([load, watchReady])

      expect(readyAt - failedOverAt).toBeLessThan(2000)
      expect(readiness).toContain(503)
      expect(seen.every((s) => s.status === 200 || s.status === 503)).toBe(true)
      expect(seen.filter((s) => s.status === 503).every((s) => s.retryAfter !== null)).toBe(true)
      expect(seen.some((s) => s.status === 503 && s.at > killedAt)).toBe(true)
      // Never held: a request during the failover is answered well within any client's patience.
      expect(Math.max(...seen.map((s) => s.ms))).toBeLessThan(3000)
      const held = await heldBefore
      expect([200, 304, 503]).toContain(held.status)
      await held.arrayBuffer()

      // After: the rendezvous made before survived (it had replicated), every dialect works, and a
      // long-poll held now is woken by a later write.
      const waiting = fetch(`${server.base}${before.id}`, { headers: { 'if-none-match': before.etag, prefer: 'wait=10' } })
      await sleep(100)
      const written = await fetch(`${server.base}${before.id}`, { method: 'PUT', body: 'after the failover', headers: { 'if-match': before.etag } })
      expect(written.status).toBe(202)
      const woken = await waiting
      expect(woken.status).toBe(200)
      expect(await woken.text()).toBe('after the failover')
      expect(await exchangeOnEveryDialect({ origin: server.origin })).toHaveLength(7)
      console.log(
        `sentinel failover: elected ${Math.round(failedOverAt - killedAt)} ms after the kill, server ready ${Math.round(readyAt - failedOverAt)} ms after that; ${seen.filter((s) => s.status === 503).length} of ${seen.length} creates answered 503`,
      )
    } finally {
      server.child.kill('SIGKILL')
      await topology.close()
    }
  }, 60_000)

  it('should lose no acknowledged write across a failover when each write waits for a replica, where without it acknowledged writes are lost', async () => {
    const topology = await startTestSentinels('acknowledged writes through a Sentinel failover')
    if (!topology) return
    const waiting = await serverOn(topology.url, { RENDEZVOUS_REDIS_WAIT_REPLICAS: '1', RENDEZVOUS_REDIS_WAIT_TIMEOUT_MS: '200' })
    const trusting = await serverOn(topology.url)
    try {
      const writes = async (base: string, count: number) => {
        const acknowledged: { id: string; body: string }[] = []
        let refused = 0
        for (let n = 0; n < count; n++) {
          const body = `message ${n} ${Math.random()}`
          const response = await fetch(base, { method: 'POST', body })
          if (response.status === 200) acknowledged.push({ id: ((await response.json()) as { id: string }).id, body })
          else {
            expect(response.status).toBe(503)
            await response.arrayBuffer()
            refused++
          }
        }
        return { acknowledged, refused }
      }
      const survivors = async (base: string, written: { id: string; body: string }[]) => {
        let kept = 0
        for (const { id, body } of written) {
          const read = await fetch(`${base}${id}`)
          if (read.status === 200 && (await read.text()) === body) kept++
        }
        return kept
      }
      // Replicated writes: both servers' are acknowledged.
      const healthyWaiting = await writes(waiting.base, 10)
      const healthyTrusting = await writes(trusting.base, 10)
      expect(healthyWaiting.acknowledged).toHaveLength(10)
      expect(healthyTrusting.acknowledged).toHaveLength(10)
      // The replica falls behind: the primary alone has what is written now.
      await topology.cutReplica()
      const laggingWaiting = await writes(waiting.base, 5)
      const laggingTrusting = await writes(trusting.base, 5)
      expect(laggingWaiting.acknowledged).toHaveLength(0)
      expect(laggingWaiting.refused).toBe(5)
      expect(laggingTrusting.acknowledged).toHaveLength(5)
      // The primary dies before the replica has caught up, and the replica is promoted.
      const killedPort = await topology.killPrimary()
      await topology.resumeReplica()
      await topology.failedOverFrom(killedPort)
      for (const server of [waiting, trusting]) {
        for (let i = 0; i < 400 && (await fetch(`${server.origin}/ready`)).status !== 200; i++) await sleep(10)
      }
      expect(await survivors(waiting.base, healthyWaiting.acknowledged)).toBe(10)
      expect(await survivors(trusting.base, healthyTrusting.acknowledged)).toBe(10)
      // What the trusting server acknowledged while the replica lagged is gone; the waiting one acknowledged nothing it could lose.
      expect(await survivors(trusting.base, laggingTrusting.acknowledged)).toBe(0)
    } finally {
      waiting.child.kill('SIGKILL')
      trusting.child.kill('SIGKILL')
      await topology.close()
    }
  }, 60_000)
})
