/**
 * @module The `hold` scenario: waiters held, then woken by writes: wake-up latency and server memory per
 * waiter, against our server and, in alternating rounds, the do-nothing rendezvous. Its load is
 * `hold.ts`.
 */

import { intOption } from '../cli.ts'
import { median, round, startUsage, usageFigures } from '../meter.ts'
import { Recorder } from '../recorder.ts'
import type { BenchReport } from '../report.ts'
import { runHold } from './hold.ts'
import { type Target, spawnComparison } from '../target.ts'
import { type Report, type Scenario, type ScenarioContext, checkOpenFiles, type Figures } from './shape.ts'

export const holdScenario: Scenario = {
  name: 'hold',
  async run(context: ScenarioContext): Promise<Report> {
    const { args, target, config, machine, payloadBytes, comparisonCpu } = context
    const waiters = intOption(args, 'waiters', 1000, 1)
    checkOpenFiles(waiters + 100)
    const options = {
      waiters,
      payloadBytes,
      waitSeconds: intOption(args, 'wait', 30, 1),
      holdSeconds: intOption(args, 'hold', 2),
      writers: intOption(args, 'writers', 64, 1),
      writeRate: intOption(args, 'write-rate', 1000),
    }
    Object.assign(config, options, { ceiling: args.switches.has('ceiling') })
    const log = (line: string) => process.stderr.write(`[hold] ${line}\n`)
    const holdOn = async (server: Target) => {
      const stop = startUsage(server)
      const outcome = await runHold(server.urls, options, server.processes[0] ?? null, log)
      const usage = stop()
      const result = outcome.recorder.result()
      const p99Ms = round((result.latencyUs['write-to-wake']?.p99 ?? 0) / 1000)
      const figures: Figures = {
        waiters,
        woken: result.completed,
        errors: result.errorCount,
        'write-to-wake p50 (ms)': round((result.latencyUs['write-to-wake']?.p50 ?? 0) / 1000),
        'write-to-wake p99 (ms)': p99Ms,
      }
      if (outcome.bytesPerWaiter !== null) figures['server bytes per held request'] = Math.round(outcome.bytesPerWaiter)
      if (server.processes.length > 0) Object.assign(figures, usageFigures(usage, result.completed, 'wake'))
      return { result, figures, p99Ms, usage }
    }
    const rounds = intOption(args, 'rounds', 1, 1)
    config['rounds'] = rounds
    const comparison = args.switches.has('ceiling') ? await spawnComparison('null-rendezvous', comparisonCpu) : null
    const ourRounds: Awaited<ReturnType<typeof holdOn>>[] = []
    const theirRounds: Awaited<ReturnType<typeof holdOn>>[] = []
    try {
      // Alternate whole rounds: a p99 of sub-millisecond wake-ups moves with the machine's mood, so
      // each comparison is made against a round of the do-nothing server run right after ours.
      for (let r = 0; r < rounds; r++) {
        if (rounds > 1) log(`round ${r + 1}/${rounds}`)
        ourRounds.push(await holdOn(target))
        if (comparison) {
          log('the same against the do-nothing rendezvous')
          theirRounds.push(await holdOn(comparison))
        }
      }
    } finally {
      await comparison?.stop()
    }
    // Memory per waiter is read in the first round, the only one that starts from a server that has held none.
    const ours = ourRounds[0]!
    const p99Of = (round: (typeof ourRounds)[number]) => round.p99Ms
    let ceiling: BenchReport['ceiling']
    if (comparison) {
      const theirs = theirRounds[0]!
      ceiling = { label: 'do-nothing rendezvous (null-rendezvous.ts)', result: theirs.result, figures: theirs.figures }
      ours.figures['null rendezvous write-to-wake p99 (ms)'] = p99Of(theirs)
      ours.figures['write-to-wake p99 vs null rendezvous'] = round(p99Of(ours) / Math.max(0.001, p99Of(theirs)))
    }
    if (rounds > 1) {
      const ratios = ourRounds.map((r, i) => p99Of(r) / Math.max(0.001, theirRounds[i] ? p99Of(theirRounds[i]) : Number.NaN))
      ours.figures['write-to-wake p99 (ms), median of rounds'] = round(median(ourRounds.map(p99Of)))
      if (comparison) {
        ours.figures['null rendezvous write-to-wake p99 (ms), median of rounds'] = round(median(theirRounds.map(p99Of)))
        ours.figures['write-to-wake p99 vs null rendezvous, median of rounds'] = round(median(ratios))
      }
      config['rounds detail'] = {
        p99Ms: { ours: ourRounds.map(p99Of), nullRendezvous: theirRounds.map(p99Of) },
        ourGc: ourRounds.map((r) => ({ collections: r.usage.gcCollections, longestPauseMs: round(r.usage.gcMaxPauseMs) })),
      }
    }
    // Latencies, statuses and errors of every round (and so the exit code) in the report's results.
    const allOf = (results: readonly (typeof ourRounds)[number][]) => {
      const recorder = new Recorder()
      for (const r of results) recorder.merge(r.result)
      return recorder.result()
    }
    const result = allOf(ourRounds)
    Object.assign(ours.figures, { woken: result.completed, errors: result.errorCount }, rounds > 1 ? { rounds } : {})
    if (ceiling) ceiling = { ...ceiling, result: allOf(theirRounds) }
    return { scenario: 'hold', config, machine, result, figures: ours.figures, ...(ceiling ? { ceiling } : {}) }
  },
}
