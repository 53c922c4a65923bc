/**
 * Shutdown of the real process (docs/protocol.md#operations): on SIGTERM `/ready` answers 503 at once, held
 * long-polls are answered, the server keeps serving for the drain period with `Connection: close`
 * on every answer, then stops listening and exits. A rolling restart behind a proxy loses nothing.
 */

import { describe, expect, it } from 'vitest'
import { create, sleep } from './harness.ts'
import { listeningUrl, spawnMain } from './process.ts'

interface Attempt {
  readonly sentAt: number
  /** Wall-clock `sentAt`, to compare with the server's log times. */
  readonly sentAtWall: number
  readonly status: number | null
  readonly closes: boolean
  readonly error: string | null
}

describe('shutdown with a drain period', () => {
  it('should answer every request sent during the drain, with Connection: close, then stop listening and exit 0', async () => {
    const drainMs = 2000
    const child = spawnMain(['--host', '127.0.0.1', '--port', '0', '--shutdown-drain', String(drainMs / 1000)])
    try {
      // Wall-clock time the server logged just before it closed its listening socket.
      let stoppedListeningAt = Number.POSITIVE_INFINITY
      const base = await listeningUrl(child.stderr, undefined, (line) => {
        if (line.includes('"stopped listening"')) stoppedListeningAt = Date.parse((JSON.parse(line) as { time: string }).time)
      })
      const { id, etag } = await create({ base }, 'payload')
      const held = fetch(`${base}${id}`, { headers: { 'if-none-match': etag, prefer: 'wait=30' } })
      await sleep(200)

      const started = performance.now()
      const attempts: Attempt[] = []
      let sigtermAt = 0
      // Four clients each send a request every 10 ms, through the SIGTERM and past the drain.
      const clients = Array.from({ length: 4 }, async () => {
        while (performance.now() - started < 400 + drainMs + 600) {
          const sentAt = performance.now()
          const sentAtWall = Date.now()
          try {
            const response = await fetch(`${base}${id}`, { signal: AbortSignal.timeout(3000) })
            await response.arrayBuffer()
            attempts.push({ sentAt, sentAtWall, status: response.status, closes: response.headers.get('connection') === 'close', error: null })
          } catch (error) {
            attempts.push({ sentAt, sentAtWall, status: null, closes: false, error: (error as Error).name + ': ' + (error as Error).message })
          }
          await sleep(10)
        }
      })
      await sleep(400)
      sigtermAt = performance.now()
      child.kill('SIGTERM')
      await sleep(50)
      // A load balancer sees the drain at once.
      const ready = await fetch(`${base.replace(/\/$/, '')}/ready`)
      expect(ready.status).toBe(503)
      const answered = await held
      expect(answered.status).toBe(304)
      expect(answered.headers.get('connection')).toBe('close')
      await Promise.all(clients)
      expect(await child.exited).toBe(0)

      const duringDrain = attempts.filter((a) => a.sentAt > sigtermAt + 20 && a.sentAt < sigtermAt + drainMs - 100)
      expect(duringDrain.length).toBeGreaterThan(20)
      for (const attempt of duringDrain) {
        expect(attempt.error).toBeNull()
        expect(attempt.status).toBe(200)
        expect(attempt.closes).toBe(true)
      }
      // Before SIGTERM nothing was refused; after the drain, connections are refused rather than
      // accepted and dropped. A connection the kernel accepted in the instant the listening socket
      // closed is reset (TCP has no other answer for it), so a reset is allowed only for a request
      // sent in that instant, not for one sent well after it.
      for (const attempt of attempts.filter((a) => a.sentAt < sigtermAt)) expect(attempt.status).toBe(200)
      expect(stoppedListeningAt).toBeLessThan(Number.POSITIVE_INFINITY)
      const closingInstantEnd = stoppedListeningAt + 100
      const refused = /ConnectionRefused|ECONNREFUSED|Unable to connect/i
      const refusedOrReset = /ConnectionRefused|ECONNREFUSED|Unable to connect|ECONNRESET|closed unexpectedly/i
      const failed = attempts.filter((a) => a.error !== null)
      for (const attempt of failed) {
        expect(attempt.sentAt).toBeGreaterThan(sigtermAt + drainMs - 100)
        expect(attempt.error).toMatch(attempt.sentAtWall < closingInstantEnd ? refusedOrReset : refused)
      }
      expect(failed.filter((a) => a.sentAtWall >= closingInstantEnd).length).toBeGreaterThan(10)
    } finally {
      child.kill('SIGKILL')
    }
  }, 20_000)
})
