/**
 * @module Turning a run into what people read: a summary table for the terminal, a JSON file with
 * every figure and the exact configuration, a self-contained HTML page with plots, and a
 * side-by-side comparison of two JSON files.
 */

import type { HistogramSummary } from './histogram.ts'
import type { MachineInfo } from './machine.ts'
import type { RecorderResult } from './recorder.ts'

export interface BenchReport {
  readonly scenario: string
  readonly config: Record<string, unknown>
  readonly machine: MachineInfo
  /** Headline numbers, each named with its unit. */
  readonly figures: Record<string, number>
  readonly result: RecorderResult
  /** The same load against a comparison server (bare Bun, or the do-nothing rendezvous), when asked for. */
  readonly ceiling?: { readonly label?: string; readonly figures: Record<string, number>; readonly result: RecorderResult }
  /** Latency of the other comparison servers (the minimal Elysia app), by name. */
  readonly comparisons?: Record<string, { readonly latencyUs: Record<string, HistogramSummary> }>
}

const ms = (us: number) => (us / 1000).toFixed(us < 10_000 ? 3 : 1)

/** The terminal summary: headline figures, then latency per operation, then statuses and errors. */
export function summaryTable(report: BenchReport): string {
  const lines: string[] = [`scenario: ${report.scenario}`, '']
  const width = Math.max(...Object.keys(report.figures).map((k) => k.length), 10)
  for (const [name, value] of Object.entries(report.figures)) lines.push(`  ${name.padEnd(width)}  ${formatNumber(value)}`)
  lines.push('', latencyTable(report.result.latencyUs))
  if (report.ceiling) lines.push('', `${report.ceiling.label ?? 'ceiling (bare Bun.serve)'}:`, latencyTable(report.ceiling.result.latencyUs))
  for (const [name, comparison] of Object.entries(report.comparisons ?? {})) lines.push('', `${name}:`, latencyTable(comparison.latencyUs))
  lines.push('', 'statuses:')
  for (const [op, statuses] of Object.entries(report.result.statuses)) {
    lines.push(
      `  ${op.padEnd(12)} ${Object.entries(statuses)
        .map(([s, n]) => `${s}×${n}`)
        .join('  ')}`,
    )
  }
  lines.push('', `errors: ${report.result.errorCount}`)
  for (const [cause, n] of Object.entries(report.result.errors)) lines.push(`  ${cause}: ${n}`)
  return lines.join('\n')
}

function latencyTable(latency: Record<string, HistogramSummary>): string {
  const header = `  ${'latency (ms)'.padEnd(14)}${['count', 'p50', 'p90', 'p99', 'p99.9', 'max'].map((h) => h.padStart(10)).join('')}`
  const rows = Object.entries(latency).map(
    ([op, s]) => `  ${op.padEnd(14)}${String(s.count).padStart(10)}${[s.p50, s.p90, s.p99, s.p999, s.max].map((v) => ms(v).padStart(10)).join('')}`,
  )
  return [header, ...rows].join('\n')
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return value.toLocaleString('en-US')
  return value.toLocaleString('en-US', { maximumFractionDigits: 3 })
}

/**
 * Every headline figure and every latency percentile of both reports with the ratio B/A, for
 * `bench compare A.json B.json`.
 */
export function compareReports(a: BenchReport, b: BenchReport): string {
  const rows: [string, number | undefined, number | undefined][] = []
  const names = new Set([...Object.keys(a.figures), ...Object.keys(b.figures)])
  for (const name of names) rows.push([name, a.figures[name], b.figures[name]])
  const ops = new Set([...Object.keys(a.result.latencyUs), ...Object.keys(b.result.latencyUs)])
  for (const op of ops) {
    for (const p of ['p50', 'p99', 'p999'] as const) {
      rows.push([`${op} ${p} (ms)`, toMs(a.result.latencyUs[op]?.[p]), toMs(b.result.latencyUs[op]?.[p])])
    }
  }
  const width = Math.max(...rows.map(([n]) => n.length))
  const lines = [`${'figure'.padEnd(width)}  ${'A'.padStart(14)}  ${'B'.padStart(14)}  ${'B/A'.padStart(8)}`]
  for (const [name, va, vb] of rows) {
    const ratio = va !== undefined && vb !== undefined && va !== 0 ? (vb / va).toFixed(3) : '-'
    lines.push(`${name.padEnd(width)}  ${fmt(va).padStart(14)}  ${fmt(vb).padStart(14)}  ${ratio.padStart(8)}`)
  }
  return [`A: ${a.scenario} ${a.machine.date}`, `B: ${b.scenario} ${b.machine.date}`, '', ...lines].join('\n')
}

function toMs(us: number | undefined): number | undefined {
  return us === undefined ? undefined : us / 1000
}

function fmt(value: number | undefined): string {
  return value === undefined ? '-' : formatNumber(Math.round(value * 1000) / 1000)
}

/** A single self-contained page: no scripts, no external resources, plots as inline SVG. */
export function htmlReport(report: BenchReport): string {
  const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
  const rows = (entries: [string, unknown][]) =>
    entries.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(typeof v === 'number' ? formatNumber(v) : JSON.stringify(v))}</td></tr>`).join('')
  const latencyRows = Object.entries(report.result.latencyUs)
    .map(
      ([op, s]) =>
        `<tr><th>${escapeHtml(op)}</th>${[s.count, s.p50, s.p90, s.p99, s.p999, s.max].map((v, i) => `<td>${i === 0 ? v : ms(v)}</td>`).join('')}</tr>`,
    )
    .join('')
  const histograms = Object.entries(report.result.histograms)
    .map(([op, buckets]) => `<figure><figcaption>${escapeHtml(op)}: latency distribution (ms, log scale)</figcaption>${histogramSvg(buckets)}</figure>`)
    .join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rendezvous bench: ${escapeHtml(report.scenario)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:960px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{text-align:left;background:#f4f4f4}
figure{margin:1.5em 0}figcaption{font-weight:600;margin-bottom:.3em}svg{background:#fafafa;border:1px solid #ddd}
</style></head><body>
<h1>rendezvous bench: ${escapeHtml(report.scenario)}</h1>
<p>${escapeHtml(report.machine.date)} on ${escapeHtml(report.machine.cpuModel)} (${report.machine.cores} cores), Bun ${escapeHtml(report.machine.bun)}</p>
<h2>Figures</h2><table>${rows(Object.entries(report.figures))}</table>
<h2>Latency (ms)</h2><table><tr><th>operation</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>${latencyRows}</table>
<h2>Throughput over time</h2><figure><figcaption>completed per second</figcaption>${lineSvg(report.result.completedPerSecond)}</figure>
<figure><figcaption>requests per second</figcaption>${lineSvg(report.result.requestsPerSecond)}</figure>
<h2>Latency histograms</h2>${histograms}
<h2>Configuration</h2><table>${rows(Object.entries(report.config))}</table>
<h2>Errors (${report.result.errorCount})</h2><table>${rows(Object.entries(report.result.errors))}</table>
</body></html>
`
}

const W = 900
const H = 220
const PAD = 40

function histogramSvg(buckets: [number, number][]): string {
  if (buckets.length === 0) return '<p>no data</p>'
  const minX = Math.log10(Math.max(1, buckets[0]![0]))
  const maxX = Math.log10(Math.max(10, buckets.at(-1)![0])) + 0.01
  const maxY = Math.max(...buckets.map(([, n]) => n))
  const x = (v: number) => PAD + ((Math.log10(Math.max(1, v)) - minX) / (maxX - minX || 1)) * (W - 2 * PAD)
  const bars = buckets
    .map(([v, n]) => {
      const h = (n / maxY) * (H - 2 * PAD)
      return `<rect x="${x(v).toFixed(1)}" y="${(H - PAD - h).toFixed(1)}" width="2" height="${h.toFixed(1)}" fill="#3366cc"/>`
    })
    .join('')
  const ticks = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000]
    .filter((t) => Math.log10(t) >= minX && Math.log10(t) <= maxX)
    .map((t) => `<text x="${x(t).toFixed(1)}" y="${H - PAD + 16}" font-size="11" text-anchor="middle">${t / 1000}</text>`)
    .join('')
  return `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img">${bars}${ticks}<line x1="${PAD}" y1="${H - PAD}" x2="${W - PAD}" y2="${H - PAD}" stroke="#888"/></svg>`
}

function lineSvg(series: number[]): string {
  if (series.length === 0) return '<p>no data</p>'
  const maxY = Math.max(1, ...series)
  const step = (W - 2 * PAD) / Math.max(1, series.length - 1)
  const points = series.map((v, i) => `${(PAD + i * step).toFixed(1)},${(H - PAD - (v / maxY) * (H - 2 * PAD)).toFixed(1)}`).join(' ')
  return `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img"><polyline fill="none" stroke="#cc3333" stroke-width="2" points="${points}"/><text x="${PAD}" y="${PAD - 8}" font-size="11">max ${formatNumber(maxY)}/s</text><text x="${W - PAD}" y="${H - PAD + 16}" font-size="11" text-anchor="end">${series.length} s</text><line x1="${PAD}" y1="${H - PAD}" x2="${W - PAD}" y2="${H - PAD}" stroke="#888"/></svg>`
}
