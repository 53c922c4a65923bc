import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
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
    expect(report.figures['server rss (MiB)']).toBeGreaterThan(0)
    expect(output).toContain('handshakes/s')
  })

  it('should complete long-poll handshakes with zero errors and one request per message', async () => {
    const { report } = await bench(['handshake', '--pairs', '5', '--handshakes', '20', '--long-poll', '--messages', '2'])
    expect(report.result.errorCount).toBe(0)
    // create, read, 2 × (put + long-poll) × 2 messages, delete.
    expect(report.figures['requests/handshake']).toBe(11)
  })

  it('should measure one operation and the ceiling', async () => {
    const { report } = await bench(['ops', '--op', 'put', '--duration', '1', '--connections', '4', '--ceiling'])
    expect(report.result.errorCount).toBe(0)
    expect(report.figures['requests/s']).toBeGreaterThan(0)
    expect(report.figures['fraction of ceiling']).toBeGreaterThan(0)
  })

  it('should hold long-polls and wake each with its own write', async () => {
    const { report } = await bench(['hold', '--waiters', '50', '--hold', '0', '--writers', '8'])
    expect(report.result.errorCount).toBe(0)
    expect(report.figures['woken']).toBe(50)
    expect(report.result.latencyUs['write-to-wake']?.count).toBe(50)
  })
})
