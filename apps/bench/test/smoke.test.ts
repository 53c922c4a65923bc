import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { redisServerBinary } from '@rendezvous/store/testing/redis'
import type { BenchReport } from '../src/report.ts'

const MAIN = resolve(import.meta.dirname, '../src/main.ts')

/** Runs the bench CLI against a server it spawns, and returns its JSON report. */
async function bench(args: string[]): Promise<{ code: number; report: BenchReport; output: string }> {
  const json = join(mkdtempSync(join(tmpdir(), 'rz-bench-')), 'report.json')
  const child = Bun.spawn([process.execPath, MAIN, ...args, '--no-pin', '--json', json], { stdout: 'pipe', stderr: 'pipe' })
  const [output, errors] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()])
  const code = await child.exited
  if (code !== 0) throw new Error(`bench exited ${code}: ${output}\n${errors}`)
  return { code, report: JSON.parse(readFileSync(json, 'utf8')) as BenchReport, output }
}

describe('bench smoke runs against a spawned server', () => {
  it('should complete polling handshakes with zero errors', async () => {
    const { report, output } = await bench(['handshake', '--pairs', '5', '--handshakes', '20', '--poll-interval', '50'])
    expect(report.result.errorCount).toBe(0)
    expect(report.figures['handshakes']).toBe(20)
    expect(report.figures['requests/handshake']).toBeGreaterThanOrEqual(7)
    expect(report.figures['server rss (MiB, all instances)']).toBeGreaterThan(0)
    expect(report.figures['server cpu µs/handshake']).toBeGreaterThan(0)
    expect(output).toContain('handshakes/s')
  })

  it('should complete long-poll handshakes with zero errors and one request per message', async () => {
    const { report } = await bench(['handshake', '--pairs', '5', '--handshakes', '20', '--long-poll', '--messages', '2'])
    expect(report.result.errorCount).toBe(0)
    // create, read, 2 × (put + long-poll) × 2 messages, delete.
    expect(report.figures['requests/handshake']).toBe(11)
  })

  it('should measure one operation and the ceiling by server CPU per request', async () => {
    const { report } = await bench(['ops', '--op', 'put', '--duration', '2', '--connections', '4', '--ceiling', '--rounds', '2'])
    expect(report.result.errorCount).toBe(0)
    expect(report.figures['requests/s']).toBeGreaterThan(0)
    expect(report.figures['server cpu µs/request']).toBeGreaterThan(0)
    expect(report.figures['ceiling server cpu µs/request']).toBeGreaterThan(0)
    const ratio = report.figures['ceiling server cpu µs/request']! / report.figures['server cpu µs/request']!
    expect(report.figures['fraction of ceiling (cpu per request)']).toBeCloseTo(ratio, 2)
    expect(report.figures['gc collections']).toBeGreaterThanOrEqual(0)
  })

  it('should spread the client over worker processes and count every request once', async () => {
    const { report } = await bench(['ops', '--op', 'get-304', '--duration', '1', '--connections', '8', '--client-workers', '2'])
    expect(report.result.errorCount).toBe(0)
    expect(report.result.statuses['get-304']?.['304']).toBe(report.result.completed)
    expect(report.figures['server cpu µs/request']).toBeGreaterThan(0)
    expect(report.config['clientProcesses']).toBe(2)
  })

  it('should run handshakes in an open loop against ours and the do-nothing rendezvous', async () => {
    const { report } = await bench(['handshake', '--rate', '50', '--duration', '2', '--long-poll', '--ceiling', '--rounds', '2'])
    expect(report.result.errorCount).toBe(0)
    expect(report.ceiling?.result.errorCount).toBe(0)
    // 50 per second for 2 seconds, split over two rounds per server.
    expect(report.figures['handshakes']).toBe(100)
    expect(report.ceiling?.figures['handshakes']).toBe(100)
    expect(report.figures['cpu per handshake vs null rendezvous']).toBeGreaterThan(0)
    expect(report.figures['handshake p99 vs null rendezvous, worst round']).toBeGreaterThan(0)
  })

  it('should hold long-polls and wake each with its own write', async () => {
    const { report } = await bench(['hold', '--waiters', '50', '--hold', '0', '--writers', '8'])
    expect(report.result.errorCount).toBe(0)
    expect(report.figures['woken']).toBe(50)
    expect(report.result.latencyUs['write-to-wake']?.count).toBe(50)
  })

  const redis = redisServerBinary()
  if (!redis) console.warn('\n*** SKIPPED: bench runs with --store redis. No redis-server (apt-get install redis-server; .ci/run installs it). ***\n')

  it.skipIf(!redis)(
    'should run against two instances on a Redis it starts, handshakes crossing instances',
    async () => {
      const { report } = await bench(['handshake', '--store', 'redis', '--instances', '2', '--pairs', '4', '--handshakes', '20', '--long-poll'])
      expect(report.result.errorCount).toBe(0)
      expect(report.figures['handshakes']).toBe(20)
      // Reported whenever the bench started the Redis (a short run may round it to zero ticks of /proc).
      expect(report.figures['redis cpu µs/handshake']).toBeGreaterThanOrEqual(0)
      const fill = await bench(['fill', '--store', 'redis', '--rendezvous', '200'])
      expect(fill.report.figures['redis bytes per live rendezvous']).toBeGreaterThan(1024)
    },
    60_000,
  )
})
