/**
 * @module What one process counts, as metric families (`metric-families.ts`): requests and their
 * handling time, refusals, outcomes (rendezvous created, deleted, expired; long-polls and how they
 * ended, with their own wait histogram) and the gauges read at scrape time. Cheap on the request
 * path: a map increment and a bucket increment per request; everything else happens on scrape.
 */

import type { Family, Sample } from './metric-families.ts'
import { processFamilies } from './process-facts.ts'

/** Handling-time bounds in seconds. A long-poll's wait is not in it: it has its own histogram. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
/** Long-poll wait bounds in seconds. */
const WAIT_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120]

interface Histogram {
  readonly counts: number[]
  sum: number
  count: number
}

/** What the scrape reads from the store and the guard at that moment. */
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
  /** Rendezvous this process saw expire: never written after creation, and written. */
  readonly expired: { readonly unused: number; readonly used: number }
}

/** The configured bounds the gauges are measured against, for alerts at 80%. */
export interface Bounds {
  readonly maxSessions: number
  readonly maxTotalBytes: number
  readonly maxWaiters: number
  readonly maxInFlight: number
}

export interface BuildFacts {
  readonly version: string
  readonly store: string
}

export type Refusal = 'rate_limited' | 'capacity' | 'in_flight' | 'client_in_flight' | 'body_timeout'

/** How a held long-poll ended. */
export type LongPollOutcome = 'woken' | 'gone' | 'timeout' | 'shutdown' | 'client_gone'
const LONG_POLL_OUTCOMES: readonly LongPollOutcome[] = ['woken', 'gone', 'timeout', 'shutdown', 'client_gone']

/** What create auth decided about a create (or an MSC4388 discovery). */
export type CreateAuthResult = 'valid' | 'invalid' | 'unavailable' | 'missing' | 'rate_limited'
const CREATE_AUTH_RESULTS: readonly CreateAuthResult[] = ['valid', 'invalid', 'unavailable', 'missing', 'rate_limited']

const REFUSALS: readonly Refusal[] = ['rate_limited', 'capacity', 'in_flight', 'client_in_flight', 'body_timeout']
const DIALECTS = ['seed', 'msc3886', 'msc4108', 'msc4388'] as const
export type CreatedDialect = (typeof DIALECTS)[number]

/** Counters of one method on one route: requests by status, and the handling-time histogram. */
interface RouteSeries {
  readonly labels: string
  readonly statuses: Map<number, number>
  readonly latency: Histogram
}

const newHistogram = (bounds: readonly number[]): Histogram => ({ counts: new Array<number>(bounds.length).fill(0), sum: 0, count: 0 })

function record(histogram: Histogram, bounds: readonly number[], seconds: number): void {
  for (let i = 0; i < bounds.length; i++) {
    if (seconds <= bounds[i]!) {
      histogram.counts[i]!++
      break
    }
  }
  histogram.sum += seconds
  histogram.count++
}

function histogramSamples(labels: string, histogram: Histogram, bounds: readonly number[]): Sample[] {
  const prefix = labels === '' ? '' : `${labels},`
  const samples: Sample[] = []
  let cumulative = 0
  bounds.forEach((bound, i) => {
    cumulative += histogram.counts[i]!
    samples.push({ suffix: '_bucket', labels: `${prefix}le="${bound}"`, value: cumulative })
  })
  samples.push({ suffix: '_bucket', labels: `${prefix}le="+Inf"`, value: histogram.count })
  samples.push({ suffix: '_sum', labels, value: histogram.sum })
  samples.push({ suffix: '_count', labels, value: histogram.count })
  return samples
}

const one = (value: number): Sample[] => [{ suffix: '', labels: '', value }]

export class Metrics {
  /** method → route → series. Nested maps keyed by constant strings: no allocation per request. */
  readonly #series = new Map<string, Map<string, RouteSeries>>()
  readonly #refusals = new Map<Refusal, number>()
  readonly #created = new Map<CreatedDialect, number>()
  readonly #createAuth = new Map<CreateAuthResult, number>()
  readonly #waits = new Map<LongPollOutcome, Histogram>(LONG_POLL_OUTCOMES.map((o) => [o, newHistogram(WAIT_BUCKETS)]))
  #deleted = 0
  #storeErrors = 0

  /**
   * Records one finished request. `route` is a template such as `/{id}`, never a concrete path;
   * `seconds` is the time spent handling it, a long-poll's wait left out.
   */
  observe(method: string, route: string, status: number, seconds: number): void {
    let byRoute = this.#series.get(method)
    if (!byRoute) {
      byRoute = new Map()
      this.#series.set(method, byRoute)
    }
    let series = byRoute.get(route)
    if (!series) {
      series = { labels: `method="${method}",route="${route}"`, statuses: new Map(), latency: newHistogram(BUCKETS) }
      byRoute.set(route, series)
    }
    series.statuses.set(status, (series.statuses.get(status) ?? 0) + 1)
    record(series.latency, BUCKETS, seconds)
  }

  refuse(reason: Refusal): void {
    this.#refusals.set(reason, (this.#refusals.get(reason) ?? 0) + 1)
  }

  /** A request answered 503 because the store could not be reached. */
  storeError(): void {
    this.#storeErrors++
  }

  created(dialect: CreatedDialect): void {
    this.#created.set(dialect, (this.#created.get(dialect) ?? 0) + 1)
  }

  deleted(): void {
    this.#deleted++
  }

  /** A held long-poll ended after `seconds` of waiting. */
  longPoll(outcome: LongPollOutcome, seconds: number): void {
    record(this.#waits.get(outcome)!, WAIT_BUCKETS, seconds)
  }

  createAuth(result: CreateAuthResult): void {
    this.#createAuth.set(result, (this.#createAuth.get(result) ?? 0) + 1)
  }

  /** Everything this process measured, with the gauges read now. */
  families(gauges: Gauges, bounds: Bounds, build: BuildFacts): Family[] {
    const all = [...this.#series.values()].flatMap((byRoute) => [...byRoute.values()])
    const counter = (name: string, help: string, samples: Sample[]): Family => ({ name, type: 'counter', help, combine: 'sum', samples })
    const gauge = (name: string, help: string, combine: Family['combine'], value: number): Family => ({
      name,
      type: 'gauge',
      help,
      combine,
      samples: one(value),
    })
    const labelled = <T extends string>(label: string, keys: readonly T[], counts: ReadonlyMap<T, number>): Sample[] =>
      keys.map((key) => ({ suffix: '', labels: `${label}="${key}"`, value: counts.get(key) ?? 0 }))
    const families: Family[] = [
      counter(
        'rendezvous_http_requests_total',
        'HTTP requests by method, route template and status.',
        all.flatMap(({ labels, statuses }) => [...statuses].map(([status, value]) => ({ suffix: '' as const, labels: `${labels},status="${status}"`, value }))),
      ),
      {
        name: 'rendezvous_http_request_duration_seconds',
        type: 'histogram',
        help: "Time spent handling a request, a long-poll's wait left out (see rendezvous_long_poll_wait_seconds).",
        combine: 'sum',
        samples: all.flatMap(({ labels, latency }) => histogramSamples(labels, latency, BUCKETS)),
      },
      counter('rendezvous_refusals_total', 'Requests refused to protect the server, by reason.', labelled('reason', REFUSALS, this.#refusals)),
      counter('rendezvous_store_errors_total', 'Requests answered 503 because the store could not be reached.', one(this.#storeErrors)),
      counter('rendezvous_created_total', 'Rendezvous created, by the dialect that created them.', labelled('dialect', DIALECTS, this.#created)),
      counter('rendezvous_deleted_total', 'Rendezvous deleted by a client before they expired.', one(this.#deleted)),
      counter(
        'rendezvous_expired_total',
        'Rendezvous that reached their expiry: used="false" were never written after creation (a QR code nobody answered), used="true" were.',
        [
          { suffix: '', labels: 'used="false"', value: gauges.expired.unused },
          { suffix: '', labels: 'used="true"', value: gauges.expired.used },
        ],
      ),
      {
        name: 'rendezvous_long_poll_wait_seconds',
        type: 'histogram',
        help: 'How long held long-polls waited, by how they ended: woken by a write, gone (deleted or expired), timeout, shutdown, client_gone.',
        combine: 'sum',
        samples: LONG_POLL_OUTCOMES.flatMap((outcome) => histogramSamples(`outcome="${outcome}"`, this.#waits.get(outcome)!, WAIT_BUCKETS)),
      },
      counter(
        'rendezvous_create_auth_total',
        'Create-auth decisions on a token: valid, invalid, unavailable (the homeserver did not answer, or too many checks were under way), missing (no token), rate_limited (too many new tokens from one client).',
        labelled('result', CREATE_AUTH_RESULTS, this.#createAuth),
      ),
      gauge(
        'rendezvous_store_up',
        'Whether the store can serve (1) or is unreachable (0); for a group, 0 when any worker cannot reach it.',
        'min',
        gauges.storeUp,
      ),
      gauge('rendezvous_live', 'Live rendezvous (all instances, with Redis).', 'max', gauges.liveRendezvous),
      gauge('rendezvous_live_max', 'RENDEZVOUS_MAX_SESSIONS: live rendezvous allowed.', 'max', bounds.maxSessions),
      gauge('rendezvous_live_payload_bytes', 'Payload bytes held by live rendezvous (all instances, with Redis).', 'max', gauges.livePayloadBytes),
      gauge('rendezvous_live_payload_bytes_max', 'RENDEZVOUS_MAX_TOTAL_BYTES: payload bytes allowed.', 'max', bounds.maxTotalBytes),
      gauge('rendezvous_long_polls_held', 'Long-poll requests being held (summed over a group).', 'sum', gauges.heldLongPolls),
      gauge('rendezvous_long_polls_max', 'RENDEZVOUS_MAX_WAITERS: long-polls that may be held (summed over a group).', 'sum', bounds.maxWaiters),
      gauge('rendezvous_requests_in_flight', 'Requests being handled, held long-polls not counted (summed over a group).', 'sum', gauges.inFlight),
      gauge(
        'rendezvous_requests_in_flight_max',
        'RENDEZVOUS_MAX_IN_FLIGHT: requests that may be handled at once (summed over a group).',
        'sum',
        bounds.maxInFlight,
      ),
      gauge('rendezvous_rate_limit_tracked_clients', 'Client addresses the rate limiters remember (summed over a group).', 'sum', gauges.rateLimitedClients),
      {
        name: 'rendezvous_build_info',
        type: 'gauge',
        help: 'Always 1: the version of the server, the Bun it runs on and its store.',
        combine: 'max',
        samples: [{ suffix: '', labels: `version="${build.version}",bun_version="${Bun.version}",store="${build.store}"`, value: 1 }],
      },
    ]
    if (gauges.evictionPolicy !== null) {
      families.push({
        name: 'rendezvous_store_eviction_policy',
        type: 'gauge',
        help: "Redis's maxmemory-policy, as a label (anything but noeviction may drop live rendezvous).",
        combine: 'max',
        samples: [{ suffix: '', labels: `policy="${gauges.evictionPolicy.replace(/[^a-z-]/g, '')}"`, value: 1 }],
      })
    }
    return [...families, ...processFamilies()]
  }
}
