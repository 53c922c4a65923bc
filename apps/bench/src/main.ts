/**
 * @module `bun run bench`: parse options, pick the target, run the scenario, report.
 *
 * Every run against a server we spawned reports what it cost the server: CPU time per request (or
 * per handshake) read from /proc, and the engine's garbage collections. Comparisons with the bare
 * ceiling or the do-nothing rendezvous are ratios of that cost, measured in alternating rounds, so
 * they do not depend on how fast the client is (which the bench also reports, loudly when its core
 * is saturated).
 */

import { readFileSync, writeFileSync } from 'node:fs'
import { CLIENT_WORKER_COMMAND, runClientWorker } from './client-workers.ts'
import { type ParsedArgs, helpText, intOption, parseArgs, stringOption } from './cli.ts'
import { machineInfo } from './machine.ts'
import { round } from './meter.ts'
import { type BenchReport, compareReports, htmlReport, summaryTable } from './report.ts'
import { type Target, existingTarget, spawnServer } from './target.ts'
import { type CpuProfile, profileTable, summarizeProfile } from './profile-summary.ts'
import { CLIENT_CPU, SERVER_CPU, pinSelf } from './pinning.ts'
import { fillScenario } from './scenarios/fill-scenario.ts'
import { handshakeScenario } from './scenarios/handshake-scenario.ts'
import { holdScenario } from './scenarios/hold-scenario.ts'
import { opsScenario } from './scenarios/ops-scenario.ts'
import type { Report, Scenario } from './scenarios/shape.ts'
import { wrkCheck } from './wrk-check.ts'

/** Every scenario `bench <name>` runs. */
const SCENARIOS: readonly Scenario[] = [handshakeScenario, opsScenario, holdScenario, fillScenario]

async function main(argv: string[]): Promise<number> {
  if (argv[0] === CLIENT_WORKER_COMMAND) {
    await runClientWorker()
    return 0
  }
  const args = parseArgs(argv)
  if (args.switches.has('help')) {
    console.log(helpText())
    return 0
  }
  if (args.command === 'compare') {
    const [a, b] = args.positional
    if (!a || !b) throw new Error('usage: bench compare A.json B.json')
    const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as BenchReport
    console.log(compareReports(read(a), read(b)))
    return 0
  }
  if (args.command === 'wrk-check') return wrkCheck(args)
  if (args.command === 'profile') {
    const [file] = args.positional
    if (!file) throw new Error('usage: bench profile FILE.cpuprofile')
    console.log(profileTable(summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile)))
    return 0
  }
  if (!SCENARIOS.some((s) => s.name === args.command)) throw new Error(`unknown scenario ${JSON.stringify(args.command)} (see --help)`)

  const spawned = stringOption(args, 'url') === undefined
  const pin = spawned && !args.switches.has('no-pin')
  if (pin) pinSelf(CLIENT_CPU)
  const serverArgs = (args.values.get('server-arg') ?? []).flatMap((a) => a.split(/\s+/).filter(Boolean))
  const storeName = stringOption(args, 'store') ?? 'memory'
  if (storeName !== 'memory' && storeName !== 'redis') throw new Error('--store must be memory or redis')
  const redisUrl = stringOption(args, 'redis-url') ?? null
  const instances = intOption(args, 'instances', 1, 1)
  if (instances > 1 && storeName !== 'redis') throw new Error('--instances above 1 needs --store redis (instances share state only through Redis)')
  const target = spawned
    ? await spawnServer({
        serverArgs,
        cpu: pin ? SERVER_CPU : null,
        instances,
        store: storeName === 'redis' ? { kind: 'redis', url: redisUrl } : { kind: 'memory' },
      })
    : existingTarget(stringOption(args, 'url')!, args.switches.has('allow-remote'))
  try {
    const report = await runScenario(args, target, { serverArgs, pin, store: storeName, instances })
    if (target.processes.length > 0)
      report.figures['server rss (MiB, all instances)'] = round(target.processes.reduce((sum, p) => sum + p.rssBytes(), 0) / 2 ** 20)
    console.log(summaryTable(report))
    const json = stringOption(args, 'json')
    if (json) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`)
    const html = stringOption(args, 'html')
    if (html) writeFileSync(html, htmlReport(report))
    return report.result.errorCount === 0 && (report.ceiling?.result.errorCount ?? 0) === 0 ? 0 : 1
  } finally {
    await target.stop()
  }
}

interface RunContext {
  readonly serverArgs: readonly string[]
  readonly pin: boolean
  readonly store: string
  readonly instances: number
}

async function runScenario(args: ParsedArgs, target: Target, context: RunContext): Promise<Report> {
  const payloadBytes = intOption(args, 'payload-bytes', 1024)
  const config: Record<string, unknown> = { scenario: args.command, target: target.url.href, spawned: target.processes.length > 0, ...context, payloadBytes }
  const machine = machineInfo()
  const comparisonCpu = context.pin ? SERVER_CPU : null
  const scenario = SCENARIOS.find((s) => s.name === args.command)!
  return scenario.run({ args, target, config, machine, payloadBytes, comparisonCpu, entry: import.meta.filename })
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`bench: ${error.message}`)
    process.exit(2)
  },
)
