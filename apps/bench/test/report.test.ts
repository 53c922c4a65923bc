import { describe, expect, it } from 'vitest'
import { Recorder } from '../src/recorder.ts'
import { type BenchReport, compareReports, htmlReport, summaryTable } from '../src/report.ts'

function report(rate: number, p50us: number): BenchReport {
  const recorder = new Recorder()
  for (let i = 0; i < 100; i++) recorder.latency('get', p50us)
  recorder.complete()
  recorder.error('get: unexpected 500')
  return {
    scenario: 'ops get',
    config: { connections: 4 },
    machine: { cpuModel: 'Test CPU', cores: 2, memoryBytes: 1, kernel: 'k', bun: '1.4.5', serverVersion: '0.1.0', date: '2026-11-28T00:00:00Z' },
    figures: { 'requests/s': rate, errors: 1 },
    result: recorder.result(),
  }
}

describe('summaryTable', () => {
  it('should show figures, latency percentiles in ms, and errors by cause', () => {
    const text = summaryTable(report(1234.5, 2000))
    expect(text).toContain('requests/s')
    expect(text).toContain('1,234.5')
    expect(text).toMatch(/get\s+100\s+2\.000/)
    expect(text).toContain('get: unexpected 500: 1')
  })
})

describe('compareReports', () => {
  it('should give B/A ratios for figures and percentiles', () => {
    const text = compareReports(report(1000, 2000), report(1500, 1000))
    expect(text).toMatch(/requests\/s\s+1,000\s+1,500\s+1\.500/)
    expect(text).toMatch(/get p50 \(ms\)\s+2\s+1\s+0\.500/)
  })
})

describe('htmlReport', () => {
  it('should be one self-contained page with plots and no scripts or external resources', () => {
    const html = htmlReport(report(1000, 2000))
    expect(html.startsWith('<!doctype html>')).toBe(true)
    expect(html).toContain('<svg')
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\//)
    expect(html).toContain('Test CPU')
  })

  it('should escape text from the configuration', () => {
    const r = report(1, 1)
    const html = htmlReport({ ...r, config: { note: '<b>&' } })
    expect(html).toContain('&lt;b&gt;&amp;')
  })
})
