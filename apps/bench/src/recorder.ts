/**
 * @module What a run measures: a latency histogram per operation, statuses per operation, errors
 * by cause, and completions per second for the throughput timeline.
 */

import { Histogram, type HistogramSummary } from './histogram.ts'
import type { EncodedRequest, HttpPool, HttpRequest, HttpResponse } from './http.ts'

export interface RecorderResult {
  readonly elapsedSeconds: number
  readonly requests: number
  readonly completed: number
  readonly latencyUs: Record<string, HistogramSummary>
  readonly statuses: Record<string, Record<string, number>>
  readonly errors: Record<string, number>
  readonly errorCount: number
  /** Completions in each second of the run. */
  readonly completedPerSecond: number[]
  /** Requests answered in each second of the run. */
  readonly requestsPerSecond: number[]
  /** Non-empty histogram buckets per operation, for plots: `[upper bound µs, count]`. */
  readonly histograms: Record<string, [number, number][]>
}

export class Recorder {
  readonly #started = performance.now()
  readonly #latency = new Map<string, Histogram>()
  readonly #statuses = new Map<string, Map<number, number>>()
  readonly #errors = new Map<string, number>()
  readonly #completedPerSecond: number[] = []
  readonly #requestsPerSecond: number[] = []
  #requests = 0
  #completed = 0
  #errorCount = 0

  /** Records a latency in microseconds under `name` (an operation, or a derived figure). */
  latency(name: string, microseconds: number): void {
    let histogram = this.#latency.get(name)
    if (!histogram) {
      histogram = new Histogram()
      this.#latency.set(name, histogram)
    }
    histogram.record(microseconds)
  }

  error(cause: string): void {
    this.#errors.set(cause, (this.#errors.get(cause) ?? 0) + 1)
    this.#errorCount++
  }

  /** One unit of work done (a handshake, an operation). */
  complete(): void {
    this.#completed++
    this.#bump(this.#completedPerSecond)
  }

  /**
   * Sends `request` as operation `op`, timing it and counting its status. A status outside
   * `expected`, or a network failure, is an error; the response (or null) is returned either way.
   */
  async send(pool: HttpPool, op: string, request: HttpRequest | EncodedRequest, expected: readonly number[]): Promise<HttpResponse | null> {
    const started = performance.now()
    let response: HttpResponse
    try {
      response = await pool.send(request)
    } catch (error) {
      this.error(`${op}: ${(error as Error).message}`)
      return null
    }
    this.latency(op, (performance.now() - started) * 1000)
    this.#requests++
    this.#bump(this.#requestsPerSecond)
    let statuses = this.#statuses.get(op)
    if (!statuses) {
      statuses = new Map()
      this.#statuses.set(op, statuses)
    }
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
    if (!expected.includes(response.status)) this.error(`${op}: unexpected ${response.status}`)
    return response
  }

  /**
   * Adds another run's result (a client worker's round, one round of a scenario): latencies bucket
   * by bucket (within the histogram's 0.2%), requests, completions, statuses and errors. The
   * timelines are not merged.
   */
  merge(other: RecorderResult): void {
    for (const [op, buckets] of Object.entries(other.histograms)) {
      let histogram = this.#latency.get(op)
      if (!histogram) {
        histogram = new Histogram()
        this.#latency.set(op, histogram)
      }
      for (const [value, count] of buckets) histogram.recordMany(value, count)
    }
    for (const [op, counts] of Object.entries(other.statuses)) {
      let statuses = this.#statuses.get(op)
      if (!statuses) {
        statuses = new Map()
        this.#statuses.set(op, statuses)
      }
      for (const [status, n] of Object.entries(counts)) statuses.set(Number(status), (statuses.get(Number(status)) ?? 0) + n)
    }
    for (const [cause, n] of Object.entries(other.errors)) this.#errors.set(cause, (this.#errors.get(cause) ?? 0) + n)
    this.#errorCount += other.errorCount
    this.#requests += other.requests
    this.#completed += other.completed
  }

  get requests(): number {
    return this.#requests
  }

  get completed(): number {
    return this.#completed
  }

  get errorCount(): number {
    return this.#errorCount
  }

  get elapsedSeconds(): number {
    return (performance.now() - this.#started) / 1000
  }

  result(): RecorderResult {
    const fromMap = <V, R>(map: Map<string, V>, f: (v: V) => R) => Object.fromEntries([...map].map(([k, v]) => [k, f(v)]))
    return {
      elapsedSeconds: this.elapsedSeconds,
      requests: this.#requests,
      completed: this.#completed,
      latencyUs: fromMap(this.#latency, (h) => h.summary()),
      statuses: fromMap(this.#statuses, (m) => Object.fromEntries([...m].map(([s, n]) => [String(s), n]))),
      errors: Object.fromEntries(this.#errors),
      errorCount: this.#errorCount,
      completedPerSecond: [...this.#completedPerSecond],
      requestsPerSecond: [...this.#requestsPerSecond],
      histograms: fromMap(this.#latency, (h) => h.buckets()),
    }
  }

  #bump(series: number[]): void {
    const second = Math.floor((performance.now() - this.#started) / 1000)
    while (series.length <= second) series.push(0)
    series[second]!++
  }
}
