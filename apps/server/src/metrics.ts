/**
 * @module Prometheus metrics, kept as plain counters and rendered in the text exposition format on
 * scrape. Cheap on the request path: one map increment and one bucket increment per request.
 */

/** Latency histogram bounds in seconds; long-polls land in the upper buckets. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

interface Histogram {
  readonly counts: number[]
  sum: number
  count: number
}

export interface Gauges {
  /** 1 while the store can serve, 0 during an outage. */
  readonly storeUp: number
  readonly liveRendezvous: number
  readonly livePayloadBytes: number
  readonly heldLongPolls: number
  readonly inFlight: number
  readonly rateLimitedClients: number
  /** Redis's `maxmemory-policy`, or null for a store that never evicts. */
  readonly evictionPolicy: string | null
}

export type Refusal = 'rate_limited' | 'capacity' | 'in_flight' | 'client_in_flight' | 'body_timeout'

/** Counters of one method on one route: requests by status, and the latency histogram. */
interface RouteSeries {
  readonly labels: string
  readonly statuses: Map<number, number>
  readonly latency: Histogram
}

export class Metrics {
  /** method → route → series. Nested maps keyed by constant strings: no allocation per request. */
  readonly #series = new Map<string, Map<string, RouteSeries>>()
  readonly #refusals = new Map<Refusal, number>()
  #storeErrors = 0

  /** Records one finished request. `route` is a template such as `/{id}`, never a concrete path. */
  observe(method: string, route: string, status: number, seconds: number): void {
    let byRoute = this.#series.get(method)
    if (!byRoute) {
      byRoute = new Map()
      this.#series.set(method, byRoute)
    }
    let series = byRoute.get(route)
    if (!series) {
      series = {
        labels: `method="${method}",route="${route}"`,
        statuses: new Map(),
        latency: { counts: new Array<number>(BUCKETS.length).fill(0), sum: 0, count: 0 },
      }
      byRoute.set(route, series)
    }
    series.statuses.set(status, (series.statuses.get(status) ?? 0) + 1)
    const histogram = series.latency
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]!) {
        histogram.counts[i]!++
        break
      }
    }
    histogram.sum += seconds
    histogram.count++
  }

  refuse(reason: Refusal): void {
    this.#refusals.set(reason, (this.#refusals.get(reason) ?? 0) + 1)
  }

  /** A request answered 503 because the store could not be reached. */
  storeError(): void {
    this.#storeErrors++
  }

  /** The text exposition format (version 0.0.4). */
  render(gauges: Gauges, memory: { rss: number; heapUsed: number }): string {
    const lines: string[] = []
    const family = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)

    const all = [...this.#series.values()].flatMap((byRoute) => [...byRoute.values()])
    family('rendezvous_http_requests_total', 'counter', 'HTTP requests by method, route template and status.')
    for (const { labels, statuses } of all) {
      for (const [status, value] of statuses) lines.push(`rendezvous_http_requests_total{${labels},status="${status}"} ${value}`)
    }

    family('rendezvous_http_request_duration_seconds', 'histogram', 'Time from request to response, long-polls included.')
    for (const { labels, latency: h } of all) {
      let cumulative = 0
      BUCKETS.forEach((bound, i) => {
        cumulative += h.counts[i]!
        lines.push(`rendezvous_http_request_duration_seconds_bucket{${labels},le="${bound}"} ${cumulative}`)
      })
      lines.push(`rendezvous_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`)
      lines.push(`rendezvous_http_request_duration_seconds_sum{${labels}} ${h.sum}`)
      lines.push(`rendezvous_http_request_duration_seconds_count{${labels}} ${h.count}`)
    }

    family('rendezvous_refusals_total', 'counter', 'Requests refused to protect the server, by reason.')
    for (const reason of ['rate_limited', 'capacity', 'in_flight', 'client_in_flight', 'body_timeout'] as const) {
      lines.push(`rendezvous_refusals_total{reason="${reason}"} ${this.#refusals.get(reason) ?? 0}`)
    }

    family('rendezvous_store_errors_total', 'counter', 'Requests answered 503 because the store could not be reached.')
    lines.push(`rendezvous_store_errors_total ${this.#storeErrors}`)

    const gauge = (name: string, help: string, value: number) => {
      family(name, 'gauge', help)
      lines.push(`${name} ${value}`)
    }
    gauge('rendezvous_store_up', 'Whether the store can serve (1) or is unreachable (0).', gauges.storeUp)
    if (gauges.evictionPolicy !== null) {
      family('rendezvous_store_eviction_policy', 'gauge', "Redis's maxmemory-policy, as a label (anything but noeviction may drop live rendezvous).")
      lines.push(`rendezvous_store_eviction_policy{policy="${gauges.evictionPolicy.replace(/[^a-z-]/g, '')}"} 1`)
    }
    gauge('rendezvous_live', 'Live rendezvous.', gauges.liveRendezvous)
    gauge('rendezvous_live_payload_bytes', 'Payload bytes held by live rendezvous.', gauges.livePayloadBytes)
    gauge('rendezvous_long_polls_held', 'Long-poll requests being held.', gauges.heldLongPolls)
    gauge('rendezvous_requests_in_flight', 'Requests being processed, long-polls not counted.', gauges.inFlight)
    gauge('rendezvous_rate_limit_tracked_clients', 'Client addresses the rate limiters remember.', gauges.rateLimitedClients)
    gauge('process_resident_memory_bytes', 'Resident set size of the process.', memory.rss)
    gauge('process_heap_used_bytes', 'JavaScript heap in use.', memory.heapUsed)
    return `${lines.join('\n')}\n`
  }
}
