/**
 * @module The `handshake` scenario: device pairs doing the login exchange in a closed or open loop,
 * against our server and, in alternating rounds, the do-nothing rendezvous. Its exchange is
 * `handshake.ts`.
 */

import { intOption } from '../cli.ts'
import { NO_USAGE, addUsage, median, round, saturationWarning, startUsage, usageFigures } from '../meter.ts'
import { Recorder } from '../recorder.ts'
import type { BenchReport } from '../report.ts'
import { runHandshakes } from './handshake.ts'
import { type Target, spawnComparison } from '../target.ts'
import { type Report, type Scenario, type ScenarioContext, checkOpenFiles, progress, warn, type Figures } from './shape.ts'

export const handshakeScenario: Scenario = {
  name: 'handshake',
  async run(context: ScenarioContext): Promise<Report> {
    const { args, target, config, machine, payloadBytes, comparisonCpu } = context
    const pairs = intOption(args, 'pairs', 100, 1)
    const rate = args.values.has('rate') ? intOption(args, 'rate', 0, 1) : null
    const longPoll = args.switches.has('long-poll')
    const handshakes = args.values.has('handshakes') ? intOption(args, 'handshakes', 0, 1) : null
    const durationSeconds = handshakes === null || args.values.has('duration') ? intOption(args, 'duration', 10, 1) : null
    const withCeiling = args.switches.has('ceiling')
    const rounds = intOption(args, 'rounds', 1, 1)
    const connections = intOption(args, 'connections', rate !== null ? 256 : longPoll ? Math.ceil(pairs * 1.1) + 16 : Math.min(2 * pairs, 2000), 1)
    checkOpenFiles(2 * connections * target.urls.length)
    const roundOptions = {
      pairs,
      rate,
      handshakes: handshakes === null ? null : Math.ceil(handshakes / rounds),
      durationSeconds: durationSeconds === null ? null : durationSeconds / rounds,
      messages: intOption(args, 'messages', 1, 1),
      payloadBytes,
      pollIntervalMs: intOption(args, 'poll-interval', 1000),
      longPoll,
      waitSeconds: intOption(args, 'wait', 30),
      connections,
    }
    Object.assign(config, roundOptions, { rounds, ceiling: withCeiling, handshakes, durationSeconds })

    const comparison = withCeiling ? await spawnComparison('null-rendezvous', comparisonCpu) : null
    const ours = { recorder: new Recorder(), usage: NO_USAGE, p99s: [] as number[], cpuPerHandshake: [] as number[] }
    const theirs = { recorder: new Recorder(), usage: NO_USAGE, p99s: [] as number[], cpuPerHandshake: [] as number[] }
    try {
      for (let r = 0; r < rounds; r++) {
        for (const [side, server] of [[ours, target], ...(comparison ? [[theirs, comparison] as const] : [])] as const) {
          const roundRecorder = new Recorder()
          const stop = startUsage(server)
          const stopProgress = progress(
            `handshake ${server === target ? 'ours' : 'null rendezvous'} round ${r + 1}/${rounds}`,
            roundRecorder,
            roundOptions.handshakes,
          )
          await runHandshakes(server.urls, roundOptions, roundRecorder)
          stopProgress()
          const usage = stop()
          side.usage = addUsage(side.usage, usage)
          const roundResult = roundRecorder.result()
          side.p99s.push(roundResult.latencyUs['handshake']?.p99 ?? 0)
          side.cpuPerHandshake.push((usage.serverCpuSeconds * 1e6) / Math.max(1, roundResult.completed))
          side.recorder.merge(roundResult)
        }
      }
    } finally {
      await comparison?.stop()
    }
    // The figures compared below are kept as typed numbers; the record is only what is printed.
    const summaryOf = (side: typeof ours, server: Target) => {
      const result = side.recorder.result()
      const cpuUsPerHandshake = server.processes.length > 0 ? round((side.usage.serverCpuSeconds * 1e6) / Math.max(1, result.completed)) : null
      const worstP99Ms = round(Math.max(...side.p99s) / 1000)
      const figures: Figures = {
        handshakes: result.completed,
        'handshakes/s': round(result.completed / side.usage.seconds),
        'requests/handshake': round(result.requests / Math.max(1, result.completed)),
        'requests/s': round(result.requests / side.usage.seconds),
        errors: result.errorCount,
        'handshake p99 (ms), worst round': worstP99Ms,
      }
      if (cpuUsPerHandshake !== null) Object.assign(figures, usageFigures(side.usage, result.completed, 'handshake'))
      warn(saturationWarning(side.usage, server === target ? 'our server' : 'the null rendezvous'))
      return { result, figures, cpuUsPerHandshake, worstP99Ms }
    }
    const summary = summaryOf(ours, target)
    const figures = summary.figures
    let ceiling: BenchReport['ceiling']
    if (comparison) {
      const theirSummary = summaryOf(theirs, comparison)
      ceiling = { label: 'do-nothing rendezvous (null-rendezvous.ts)', result: theirSummary.result, figures: theirSummary.figures }
      if (theirSummary.cpuUsPerHandshake !== null) figures['null rendezvous server cpu µs/handshake'] = theirSummary.cpuUsPerHandshake
      if (summary.cpuUsPerHandshake !== null && theirSummary.cpuUsPerHandshake !== null) {
        figures['cpu per handshake vs null rendezvous'] = round(summary.cpuUsPerHandshake / Math.max(1e-9, theirSummary.cpuUsPerHandshake))
        // Each round is paired with the comparison round right after it: drift on a shared machine
        // hits both alike, and the median of the pairs shrugs off a slow spell.
        figures['cpu per handshake vs null rendezvous, median of rounds'] = round(
          median(ours.cpuPerHandshake.map((c, i) => c / Math.max(1e-9, theirs.cpuPerHandshake[i] ?? Number.NaN))),
        )
      }
      figures['null rendezvous handshake p99 (ms), worst round'] = theirSummary.worstP99Ms
      figures['handshake p99 vs null rendezvous, worst round'] = round(Math.max(...ours.p99s.map((p, i) => p / Math.max(1, theirs.p99s[i] ?? Number.NaN))))
    }
    config['rounds detail'] = {
      p99Ms: { ours: ours.p99s.map((p) => round(p / 1000)), nullRendezvous: theirs.p99s.map((p) => round(p / 1000)) },
      cpuMicrosecondsPerHandshake: { ours: ours.cpuPerHandshake.map(round), nullRendezvous: theirs.cpuPerHandshake.map(round) },
    }
    return {
      scenario: rate === null ? 'handshake' : `handshake at ${rate}/s`,
      config,
      machine,
      result: summary.result,
      figures,
      ...(ceiling ? { ceiling } : {}),
    }
  },
}
