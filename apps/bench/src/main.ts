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
import { CLIENT_WORKER_COMMAND, ClientWorkers, runClientWorker } from './client-workers.ts'
import { type ParsedArgs, helpText, intOption, parseArgs, stringOption } from './cli.ts'
import { machineInfo } from './machine.ts'
import { NO_USAGE, type Usage, addUsage, median, round, saturationWarning, startUsage, usageFigures } from './meter.ts'
import { Recorder } from './recorder.ts'
import { redisUsedMemory } from './redis-info.ts'
import { type BenchReport, compareReports, htmlReport, summaryTable } from './report.ts'
import { runFill } from './scenarios/fill.ts'
import { runHandshakes } from './scenarios/handshake.ts'
import { runHold } from './scenarios/hold.ts'
import { OPERATIONS, type Operation, type PreparedOps, prepareOps } from './scenarios/ops.ts'
import { type Target, existingTarget, openFilesLimit, spawnComparison, spawnServer } from './target.ts'
import { type CpuProfile, profileTable, summarizeProfile } from './profile-summary.ts'
import { CLIENT_CPU, SERVER_CPU, pinSelf } from './pinning.ts'
import { wrkCheck } from './wrk-check.ts'

type Figures = Record<string, number>
type Report = BenchReport & { figures: Figures }

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
  if (!['handshake', 'ops', 'hold', 'fill'].includes(args.command)) throw new Error(`unknown scenario ${JSON.stringify(args.command)} (see --help)`)

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
  switch (args.command) {
    case 'ops':
      return runOps(args, target, config, machine, payloadBytes, comparisonCpu)
    case 'handshake':
      return runHandshakeScenario(args, target, config, machine, payloadBytes, comparisonCpu)
    case 'hold':
      return runHoldScenario(args, target, config, machine, payloadBytes, comparisonCpu)
    default:
      return runFillScenario(args, target, config, machine, payloadBytes)
  }
}

// --- ops ---

async function runOps(
  args: ParsedArgs,
  target: Target,
  config: Record<string, unknown>,
  machine: BenchReport['machine'],
  payloadBytes: number,
  comparisonCpu: number | null,
): Promise<Report> {
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
        import.meta.filename,
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
}

// --- handshake ---

async function runHandshakeScenario(
  args: ParsedArgs,
  target: Target,
  config: Record<string, unknown>,
  machine: BenchReport['machine'],
  payloadBytes: number,
  comparisonCpu: number | null,
): Promise<Report> {
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
  const figuresOf = (side: typeof ours, server: Target): Figures => {
    const result = side.recorder.result()
    const figures: Figures = {
      handshakes: result.completed,
      'handshakes/s': round(result.completed / side.usage.seconds),
      'requests/handshake': round(result.requests / Math.max(1, result.completed)),
      'requests/s': round(result.requests / side.usage.seconds),
      errors: result.errorCount,
      'handshake p99 (ms), worst round': round(Math.max(...side.p99s) / 1000),
    }
    if (server.processes.length > 0) Object.assign(figures, usageFigures(side.usage, result.completed, 'handshake'))
    warn(saturationWarning(side.usage, server === target ? 'our server' : 'the null rendezvous'))
    return figures
  }
  const figures = figuresOf(ours, target)
  let ceiling: BenchReport['ceiling']
  if (comparison) {
    const ceilingFigures = figuresOf(theirs, comparison)
    ceiling = { label: 'do-nothing rendezvous (null-rendezvous.ts)', result: theirs.recorder.result(), figures: ceilingFigures }
    figures['null rendezvous server cpu µs/handshake'] = ceilingFigures['server cpu µs/handshake']!
    if (target.processes.length > 0) {
      figures['cpu per handshake vs null rendezvous'] = round(figures['server cpu µs/handshake']! / ceilingFigures['server cpu µs/handshake']!)
      // Each round is paired with the comparison round right after it: drift on a shared machine
      // hits both alike, and the median of the pairs shrugs off a slow spell.
      figures['cpu per handshake vs null rendezvous, median of rounds'] = round(
        median(ours.cpuPerHandshake.map((c, i) => c / Math.max(1e-9, theirs.cpuPerHandshake[i]!))),
      )
    }
    figures['null rendezvous handshake p99 (ms), worst round'] = ceilingFigures['handshake p99 (ms), worst round']!
    figures['handshake p99 vs null rendezvous, worst round'] = round(Math.max(...ours.p99s.map((p, i) => p / Math.max(1, theirs.p99s[i]!))))
  }
  config['rounds detail'] = {
    p99Ms: { ours: ours.p99s.map((p) => round(p / 1000)), nullRendezvous: theirs.p99s.map((p) => round(p / 1000)) },
    cpuMicrosecondsPerHandshake: { ours: ours.cpuPerHandshake.map(round), nullRendezvous: theirs.cpuPerHandshake.map(round) },
  }
  return {
    scenario: rate === null ? 'handshake' : `handshake at ${rate}/s`,
    config,
    machine,
    result: ours.recorder.result(),
    figures,
    ...(ceiling ? { ceiling } : {}),
  }
}

// --- hold ---

async function runHoldScenario(
  args: ParsedArgs,
  target: Target,
  config: Record<string, unknown>,
  machine: BenchReport['machine'],
  payloadBytes: number,
  comparisonCpu: number | null,
): Promise<Report> {
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
    const figures: Figures = {
      waiters,
      woken: result.completed,
      errors: result.errorCount,
      'write-to-wake p50 (ms)': round((result.latencyUs['write-to-wake']?.p50 ?? 0) / 1000),
      'write-to-wake p99 (ms)': round((result.latencyUs['write-to-wake']?.p99 ?? 0) / 1000),
    }
    if (outcome.bytesPerWaiter !== null) figures['server bytes per held request'] = Math.round(outcome.bytesPerWaiter)
    if (server.processes.length > 0) Object.assign(figures, usageFigures(usage, result.completed, 'wake'))
    return { result, figures }
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
  const p99Of = (round: (typeof ourRounds)[number]) => round.figures['write-to-wake p99 (ms)']!
  let ceiling: BenchReport['ceiling']
  if (comparison) {
    const theirs = theirRounds[0]!
    ceiling = { label: 'do-nothing rendezvous (null-rendezvous.ts)', ...theirs }
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
      ourGc: ourRounds.map((r) => ({ collections: r.figures['gc collections'], longestPauseMs: r.figures['gc longest pause (ms)'] })),
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
}

// --- fill ---

async function runFillScenario(
  args: ParsedArgs,
  target: Target,
  config: Record<string, unknown>,
  machine: BenchReport['machine'],
  payloadBytes: number,
): Promise<Report> {
  const rendezvous = intOption(args, 'rendezvous', 100_000, 1)
  const connections = intOption(args, 'connections', 64, 1)
  const redisUrl = target.redisUrl
  const options = { rendezvous, payloadBytes, connections, redisMemory: redisUrl ? () => redisUsedMemory(redisUrl) : null }
  Object.assign(config, { rendezvous, connections })
  const outcome = await withProgress('fill', () => runFill(target.url, options, target.processes[0] ?? null))
  const result = outcome.recorder.result()
  const figures: Figures = { rendezvous, 'creates/s': round(rendezvous / result.elapsedSeconds), errors: result.errorCount }
  if (outcome.bytesPerRendezvous !== null) {
    figures['server bytes per live rendezvous'] = Math.round(outcome.bytesPerRendezvous)
    figures['server rss with all live (MiB)'] = round(outcome.rssAfterBytes! / 2 ** 20)
  }
  if (outcome.redisBytesPerRendezvous !== null) figures['redis bytes per live rendezvous'] = Math.round(outcome.redisBytesPerRendezvous)
  return { scenario: 'fill', config, machine, result, figures }
}

// --- Helpers ---

function warn(message: string | null): void {
  if (message) console.error(`\n${message}\n`)
}

/** Stops with a clear message when the open-files limit cannot hold `connections` sockets. */
function checkOpenFiles(connections: number): void {
  const limit = openFilesLimit()
  if (limit !== null && connections + 64 > limit) {
    throw new Error(
      `the open-files limit is ${limit}, too low for ${connections} connections: raise it for this shell and the server (e.g. \`ulimit -n ${connections * 2 + 1024}\`, or LimitNOFILE in a systemd unit)`,
    )
  }
}

/** A live progress line on a terminal; nothing when stderr is not one. */
function progress(label: string, recorder: Recorder, total: number | null): () => void {
  if (!process.stderr.isTTY) return () => {}
  const timer = setInterval(() => {
    const elapsed = recorder.elapsedSeconds
    const done = `${recorder.completed}${total === null ? '' : `/${total}`}`
    process.stderr.write(`\r[${label}] ${done} done, ${(recorder.completed / elapsed).toFixed(1)}/s, ${recorder.errorCount} errors, ${elapsed.toFixed(0)} s   `)
  }, 500)
  return () => {
    clearInterval(timer)
    process.stderr.write('\n')
  }
}

async function withProgress<T>(label: string, run: () => Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return run()
  const started = performance.now()
  const timer = setInterval(() => process.stderr.write(`\r[${label}] ${((performance.now() - started) / 1000).toFixed(0)} s   `), 500)
  try {
    return await run()
  } finally {
    clearInterval(timer)
    process.stderr.write('\n')
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`bench: ${error.message}`)
    process.exit(2)
  },
)
