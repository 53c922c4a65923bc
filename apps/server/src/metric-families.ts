/**
 * @module Metric families as plain data: what a process measured, in a shape that crosses the
 * supervisor's IPC channel as JSON, combines over the processes of a group, and renders in
 * Prometheus's text exposition format. Each family says how several processes' values combine,
 * because that depends on the meaning: requests add up, a Redis-wide count of live rendezvous is
 * the same everywhere, the store is up only if it is up for every worker.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram'

/** How one family's values from several processes become one. */
export type Combine = 'sum' | 'max' | 'min'

export interface Sample {
  /** Appended to the family name: `_bucket`, `_sum`, `_count` for histograms, `` otherwise. */
  readonly suffix: '' | '_bucket' | '_sum' | '_count'
  /** Rendered label pairs without braces, e.g. `method="GET",route="/{id}"`; `` for none. */
  readonly labels: string
  readonly value: number
}

export interface Family {
  readonly name: string
  readonly type: MetricType
  readonly help: string
  readonly combine: Combine
  readonly samples: readonly Sample[]
}

/** The text exposition format (version 0.0.4). */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export function renderFamilies(families: readonly Family[]): string {
  const lines: string[] = []
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`)
    for (const sample of family.samples) {
      lines.push(`${family.name}${sample.suffix}${sample.labels === '' ? '' : `{${sample.labels}}`} ${formatValue(sample.value)}`)
    }
  }
  return `${lines.join('\n')}\n`
}

/**
 * One family list from several processes' lists: samples with the same name, suffix and labels
 * combine by their family's rule; a sample only some processes have is kept as it is. Families keep
 * the order in which they first appear.
 */
export function combineFamilies(lists: readonly (readonly Family[])[]): Family[] {
  const byName = new Map<string, { family: Family; samples: Map<string, Sample> }>()
  for (const list of lists) {
    for (const family of list) {
      let entry = byName.get(family.name)
      if (!entry) {
        entry = { family, samples: new Map() }
        byName.set(family.name, entry)
      }
      for (const sample of family.samples) {
        const key = `${sample.suffix}{${sample.labels}}`
        const seen = entry.samples.get(key)
        entry.samples.set(key, seen ? { ...sample, value: combine(entry.family.combine, seen.value, sample.value) } : sample)
      }
    }
  }
  return [...byName.values()].map(({ family, samples }) => ({ ...family, samples: sortedSamples([...samples.values()]) }))
}

/** What of a process's families outlives it: its counters and histograms (gauges die with it). */
export function cumulativeOnly(families: readonly Family[]): Family[] {
  return families.filter((family) => family.type !== 'gauge')
}

function combine(rule: Combine, a: number, b: number): number {
  switch (rule) {
    case 'sum':
      return a + b
    case 'max':
      return Math.max(a, b)
    case 'min':
      return Math.min(a, b)
  }
}

/** Histogram buckets must stay in `le` order after a merge; everything else keeps its order. */
function sortedSamples(samples: Sample[]): Sample[] {
  if (!samples.some((s) => s.suffix === '_bucket')) return samples
  const bound = (s: Sample) => {
    const le = /le="([^"]+)"/.exec(s.labels)?.[1]
    return le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le)
  }
  const series = (s: Sample) => s.labels.replace(/,?le="[^"]+"/, '')
  const order = new Map<string, number>()
  for (const s of samples) if (!order.has(series(s))) order.set(series(s), order.size)
  const rank = (s: Sample) => (s.suffix === '_bucket' ? 0 : s.suffix === '_sum' ? 1 : 2)
  return samples.toSorted((a, b) => order.get(series(a))! - order.get(series(b))! || rank(a) - rank(b) || (rank(a) === 0 ? bound(a) - bound(b) : 0))
}

function formatValue(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(value)
}
