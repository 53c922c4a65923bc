/**
 * @module The `ops` scenario: closed-loop throughput and server CPU per request of one operation, against our server and (in alternating rounds) the comparisons.
 */

import { ClientWorkers } from '../client-workers.ts'
import { intOption, stringOption } from '../cli.ts'
import { NO_USAGE, type Usage, addUsage, round, saturationWarning, startUsage, usageFigures } from '../meter.ts'
import { Recorder } from '../recorder.ts'
import type { BenchReport } from '../report.ts'
import { OPERATIONS, type Operation, type PreparedOps, prepareOps } from './ops.ts'
import { type Target, spawnComparison } from '../target.ts'
import { type Report, type Scenario, type ScenarioContext, checkOpenFiles, warn, withProgress, type Figures } from './shape.ts'

export const opsScenario: Scenario = {
  name: 'ops',
  async run(context: ScenarioContext): Promise<Report> {
    const { args, target, config, machine, payloadBytes, comparisonCpu } = context
    const operation = stringOption(args, 'op') ?? 'get-304'
    if (!OPERATIONS.includes(operation as Operation)) throw new Error(`--op must be one of ${OPERATIONS.join(', ')}`)
    const connections = intOption(args, 'connections', 64, 1)
    const clientProcesses = intOption(args, 'client-workers', 1, 1)
    checkOpenFiles(connections)
    const durationSeconds = intOption(args, 'duration', 5, 1)
    const withCeiling = args.switches.has('ceiling')
    const withMinimal = args.switches.has('minimal')
    const rounds = intOption(args, 'rounds', withCeiling || withMinimal ? 5 : 1, 1)
    const share = Math.max(1, Math.floor(connections / clientProcesses))
    const options = { operation: operation as Operation, connections: share, payloadBytes }
    Object.assign(config, { operation, connections, clientProcesses, durationSeconds, ceiling: withCeiling, minimal: withMinimal, rounds })

    /** Our server and each comparison, measured in turn in every round. */
    interface Side {
      readonly name: string
      readonly server: Target
      readonly ops: PreparedOps
      readonly recorder: Recorder
      seconds: number
      usage: Usage
    }
    const sides: Side[] = []
    const comparisons: Target[] = []
    let workers: ClientWorkers | null = null
    try {
      sides.push({
        name: 'ours',
        server: target,
        ops: await prepareOps(target.urls, { ...options, ceiling: false }),
        recorder: new Recorder(),
        seconds: 0,
        usage: NO_USAGE,
      })
      for (const [name, kind, wanted] of [
        ['ceiling', 'bare', withCeiling],
        ['minimal elysia', 'minimal-elysia', withMinimal],
      ] as const) {
        if (!wanted) continue
        const server = await spawnComparison(kind, comparisonCpu)
        comparisons.push(server)
        // The bare ceiling has no rendezvous to prepare; the minimal Elysia app does.
        sides.push({
          name,
          server,
          ops: await prepareOps([server.url], { ...options, ceiling: kind === 'bare' }),
          recorder: new Recorder(),
          seconds: 0,
          usage: NO_USAGE,
        })
      }
      if (clientProcesses > 1) {
        workers = await ClientWorkers.start(
          clientProcesses - 1,
          {
            operation: options.operation,
            connections: share,
            payloadBytes,
            sides: sides.map((side) => ({ name: side.name, urls: side.server.urls.map((u) => u.href), comparison: side.name === 'ceiling' })),
          },
          context.entry,
          null,
        )
      }
      // Alternate short rounds: a slow spell on a shared machine then hits every server alike.
      await withProgress(`ops ${operation}`, async () => {
        for (let r = 0; r < rounds; r++) {
          for (const side of sides) {
            const stop = startUsage(side.server)
            const [ran, workerRounds] = await Promise.all([
              side.ops.measure(durationSeconds / rounds, side.recorder),
              workers?.round(side.name, durationSeconds / rounds) ?? Promise.resolve([]),
            ])
            for (const workerRound of workerRounds) side.recorder.merge(workerRound.result)
            side.seconds += ran
            side.usage = addUsage(side.usage, stop(workerRounds.reduce((sum, w) => sum + w.cpuSeconds, 0)))
          }
        }
      })
    } finally {
      for (const side of sides) side.ops.close()
      await workers?.close()
      for (const server of comparisons) await server.stop()
    }
    const [ours, ...others] = sides as [Side, ...Side[]]
    const result = ours.recorder.result()
    const rate = result.completed / ours.seconds
    const figures: Figures = { 'requests/s': round(rate), requests: result.completed, errors: result.errorCount }
    if (target.processes.length > 0) Object.assign(figures, usageFigures(ours.usage, result.completed, 'request', clientProcesses))
    warn(saturationWarning(ours.usage, 'our server', clientProcesses))
    let ceiling: BenchReport['ceiling']
    const comparisonLatencies: NonNullable<BenchReport['comparisons']> = {}
    const cpuOf = (side: Side) => (side.usage.serverCpuSeconds * 1e6) / Math.max(1, side.recorder.completed)
    const bare = others.find((side) => side.name === 'ceiling')
    for (const side of others) {
      const sideResult = side.recorder.result()
      const sideRate = sideResult.completed / side.seconds
      figures[`${side.name} requests/s`] = round(sideRate)
      figures[`${side.name} server cpu µs/request`] = round(cpuOf(side))
      warn(saturationWarning(side.usage, side.name, clientProcesses))
      if (side === bare) {
        ceiling = {
          result: sideResult,
          figures: { 'requests/s': round(sideRate), ...usageFigures(side.usage, sideResult.completed, 'request', clientProcesses) },
        }
        if (target.processes.length > 0) figures['fraction of ceiling (cpu per request)'] = round(cpuOf(side) / cpuOf(ours))
        figures['throughput ratio (client-bound if the client saturates)'] = round(rate / sideRate)
      } else {
        if (target.processes.length > 0) figures[`cpu per request vs ${side.name}`] = round(cpuOf(ours) / cpuOf(side))
        if (bare) figures[`${side.name} fraction of ceiling (cpu per request)`] = round(cpuOf(bare) / cpuOf(side))
        comparisonLatencies[side.name] = { latencyUs: sideResult.latencyUs }
      }
    }
    const hasComparisons = Object.keys(comparisonLatencies).length > 0
    return {
      scenario: `ops ${operation}`,
      config,
      machine,
      result,
      figures,
      ...(ceiling ? { ceiling } : {}),
      ...(hasComparisons ? { comparisons: comparisonLatencies } : {}),
    }
  },
}
