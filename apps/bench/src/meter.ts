/**
 * @module What a stretch of a run cost, read from outside: the CPU time of the server processes
 * (and of Redis, and of this client), and the garbage collections the engine logged. Dividing the
 * server's CPU by the requests served gives a cost per request that does not depend on how fast
 * the client could send them, which throughput against a ceiling does.
 */

import type { Target } from './target.ts'

export interface Usage {
  readonly seconds: number
  /** CPU of our server processes (or of the comparison server), all instances together. */
  readonly serverCpuSeconds: number
  /** CPU of the Redis we started, or null. */
  readonly redisCpuSeconds: number | null
  /** CPU of this bench process and of any client workers it reported for. */
  readonly clientCpuSeconds: number
  readonly gcCollections: number
  readonly gcPauseMs: number
  readonly gcMaxPauseMs: number
}

export const NO_USAGE: Usage = { seconds: 0, serverCpuSeconds: 0, redisCpuSeconds: null, clientCpuSeconds: 0, gcCollections: 0, gcPauseMs: 0, gcMaxPauseMs: 0 }

/** Starts measuring; the returned function reads what was used since, plus `extraClientCpu()` from client workers. */
export function startUsage(target: Target): (extraClientCpuSeconds?: number) => Usage {
  const started = performance.now()
  const cpu0 = target.processes.map((p) => p.cpuSeconds())
  const gc0 = target.processes.map((p) => p.gcPausesMs.length)
  const redis0 = target.redis?.cpuSeconds() ?? null
  const client0 = process.cpuUsage()
  return (extraClientCpuSeconds = 0) => {
    const pauses = target.processes.flatMap((p, i) => p.gcPausesMs.slice(gc0[i]))
    const client = process.cpuUsage(client0)
    return {
      seconds: (performance.now() - started) / 1000,
      serverCpuSeconds: target.processes.reduce((sum, p, i) => sum + p.cpuSeconds() - cpu0[i]!, 0),
      redisCpuSeconds: redis0 === null ? null : target.redis!.cpuSeconds() - redis0,
      clientCpuSeconds: (client.user + client.system) / 1e6 + extraClientCpuSeconds,
      gcCollections: pauses.length,
      gcPauseMs: pauses.reduce((a, b) => a + b, 0),
      gcMaxPauseMs: pauses.reduce((a, b) => Math.max(a, b), 0),
    }
  }
}

export function addUsage(a: Usage, b: Usage): Usage {
  return {
    seconds: a.seconds + b.seconds,
    serverCpuSeconds: a.serverCpuSeconds + b.serverCpuSeconds,
    redisCpuSeconds: a.redisCpuSeconds === null && b.redisCpuSeconds === null ? null : (a.redisCpuSeconds ?? 0) + (b.redisCpuSeconds ?? 0),
    clientCpuSeconds: a.clientCpuSeconds + b.clientCpuSeconds,
    gcCollections: a.gcCollections + b.gcCollections,
    gcPauseMs: a.gcPauseMs + b.gcPauseMs,
    gcMaxPauseMs: Math.max(a.gcMaxPauseMs, b.gcMaxPauseMs),
  }
}

/** When the client used this much of one core, it, not the server, set the pace. */
const CLIENT_SATURATED_FRACTION = 0.9

/** The figures every run reports about its cost, named with their units. */
export function usageFigures(usage: Usage, units: number, unitName: string, clientProcesses = 1): Record<string, number> {
  const figures: Record<string, number> = {
    [`server cpu µs/${unitName}`]: round((usage.serverCpuSeconds * 1e6) / Math.max(1, units)),
    'server cpu (% of one core)': round((100 * usage.serverCpuSeconds) / usage.seconds),
    'client cpu (% of one core per client process)': round((100 * usage.clientCpuSeconds) / usage.seconds / clientProcesses),
    'gc collections': usage.gcCollections,
    'gc collections/s': round(usage.gcCollections / usage.seconds),
    'gc longest pause (ms)': round(usage.gcMaxPauseMs),
    'gc pauses (% of server cpu)': round((100 * usage.gcPauseMs) / 1000 / Math.max(1e-9, usage.serverCpuSeconds)),
  }
  if (usage.redisCpuSeconds !== null) figures[`redis cpu µs/${unitName}`] = round((usage.redisCpuSeconds * 1e6) / Math.max(1, units))
  return figures
}

/** A loud line when the client set the pace against `server`; null when it did not. */
export function saturationWarning(usage: Usage, server: string, clientProcesses = 1): string | null {
  const fraction = usage.clientCpuSeconds / usage.seconds / clientProcesses
  if (fraction < CLIENT_SATURATED_FRACTION) return null
  return `WARNING: against ${server} the client used ${Math.round(100 * fraction)}% of its core: that throughput measures the client, not the server. CPU per request (read from /proc) is still the server's cost; spread the client with --client-workers on a machine with cores to spare.`
}

export function round(n: number): number {
  return Math.round(n * 1000) / 1000
}

/** The middle value (the mean of the two middle ones for an even count): rounds' figures are summarised by it. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
