/**
 * @module `bun run bench`: parse options, pick the target, run the scenario, report.
 */

import { readFileSync, writeFileSync } from 'node:fs'
import { type ParsedArgs, helpText, intOption, parseArgs, stringOption } from './cli.ts'
import { machineInfo } from './machine.ts'
import { Recorder } from './recorder.ts'
import { type BenchReport, compareReports, htmlReport, summaryTable } from './report.ts'
import { runFill } from './scenarios/fill.ts'
import { runHandshakes } from './scenarios/handshake.ts'
import { runHold } from './scenarios/hold.ts'
import { OPERATIONS, type Operation, prepareOps } from './scenarios/ops.ts'
import { type Target, existingTarget, openFilesLimit, spawnCeiling, spawnServer } from './target.ts'

const SERVER_CPU = 0
const BENCH_CPU = 1

async function main(argv: string[]): Promise<number> {
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
  if (!['handshake', 'ops', 'hold', 'fill'].includes(args.command)) throw new Error(`unknown scenario ${JSON.stringify(args.command)} (see --help)`)

  const spawned = stringOption(args, 'url') === undefined
  const pin = spawned && !args.switches.has('no-pin')
  if (pin) Bun.spawnSync(['taskset', '-cp', String(BENCH_CPU), String(process.pid)], { stdout: 'ignore', stderr: 'ignore' })
  const serverArgs = (args.values.get('server-arg') ?? []).flatMap((a) => a.split(/\s+/).filter(Boolean))
  const target = spawned ? await spawnServer({ serverArgs, cpu: pin ? SERVER_CPU : null }) : existingTarget(stringOption(args, 'url')!, args.switches.has('allow-remote'))
  const cpuAtStart = target.process?.cpuSeconds() ?? 0
  try {
    const report = await runScenario(args, target, serverArgs, pin)
    const cpu = target.process ? target.process.cpuSeconds() - cpuAtStart : null
    if (target.process) {
      report.figures['server rss (MiB)'] = round(target.process.rssBytes() / 2 ** 20)
      report.figures['server cpu (s)'] = round(cpu!)
      report.figures['server cpu (% of one core, whole run)'] = round((100 * cpu!) / report.result.elapsedSeconds)
    }
    console.log(summaryTable(report))
    const json = stringOption(args, 'json')
    if (json) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`)
    const html = stringOption(args, 'html')
    if (html) writeFileSync(html, htmlReport(report))
    return report.result.errorCount === 0 ? 0 : 1
  } finally {
    await target.stop()
  }
}

async function runScenario(args: ParsedArgs, target: Target, serverArgs: string[], pin: boolean): Promise<BenchReport & { figures: Record<string, number> }> {
  const payloadBytes = intOption(args, 'payload-bytes', 1024)
  const base = target.url
  const config: Record<string, unknown> = { scenario: args.command, target: base.href, spawned: target.process !== null, serverArgs, pinned: pin, payloadBytes }
  const machine = machineInfo()

  switch (args.command) {
    case 'handshake': {
      const pairs = intOption(args, 'pairs', 100, 1)
      const longPoll = args.switches.has('long-poll')
      const handshakes = args.values.has('handshakes') ? intOption(args, 'handshakes', 0, 1) : null
      const durationSeconds = handshakes === null || args.values.has('duration') ? intOption(args, 'duration', 10, 1) : null
      const connections = intOption(args, 'connections', longPoll ? Math.ceil(pairs * 1.1) + 16 : Math.min(2 * pairs, 2000), 1)
      checkOpenFiles(connections)
      const options = { pairs, handshakes, durationSeconds, messages: intOption(args, 'messages', 1, 1), payloadBytes, pollIntervalMs: intOption(args, 'poll-interval', 1000), longPoll, waitSeconds: intOption(args, 'wait', 30), connections }
      Object.assign(config, options)
      const recorder = new Recorder()
      const stopProgress = progress('handshake', recorder, handshakes)
      await runHandshakes(base, options, recorder)
      stopProgress()
      const result = recorder.result()
      return {
        scenario: 'handshake',
        config,
        machine,
        result,
        figures: {
          handshakes: result.completed,
          'handshakes/s': round(result.completed / result.elapsedSeconds),
          'requests/handshake': round(result.requests / Math.max(1, result.completed)),
          'requests/s': round(result.requests / result.elapsedSeconds),
          errors: result.errorCount,
        },
      }
    }
    case 'ops': {
      const operation = stringOption(args, 'op') ?? 'get-304'
      if (!OPERATIONS.includes(operation as Operation)) throw new Error(`--op must be one of ${OPERATIONS.join(', ')}`)
      const connections = intOption(args, 'connections', 64, 1)
      checkOpenFiles(connections)
      const durationSeconds = intOption(args, 'duration', 5, 1)
      const withCeiling = args.switches.has('ceiling')
      const rounds = withCeiling ? intOption(args, 'rounds', 5, 1) : 1
      const options = { operation: operation as Operation, connections, durationSeconds, payloadBytes, ceiling: false }
      Object.assign(config, options, { ceiling: withCeiling, rounds })
      const ours = await prepareOps(base, options)
      const bare = withCeiling ? await spawnCeiling(pin ? SERVER_CPU : null) : null
      const recorder = new Recorder()
      const ceilingRecorder = new Recorder()
      let oursSeconds = 0
      let ceilingSeconds = 0
      try {
        const theirs = bare ? await prepareOps(bare.url, { ...options, ceiling: true }) : null
        // Alternate short rounds: a slow spell on a shared machine then hits both servers alike.
        await withProgress(`ops ${operation}`, async () => {
          for (let round = 0; round < rounds; round++) {
            oursSeconds += await ours.measure(durationSeconds / rounds, recorder)
            if (theirs) ceilingSeconds += await theirs.measure(durationSeconds / rounds, ceilingRecorder)
          }
        })
        ours.close()
        theirs?.close()
      } finally {
        await bare?.stop()
      }
      const result = recorder.result()
      const rate = result.completed / oursSeconds
      const figures: Record<string, number> = { 'requests/s': round(rate), requests: result.completed, errors: result.errorCount }
      let ceiling: BenchReport['ceiling']
      if (bare) {
        const ceilingResult = ceilingRecorder.result()
        const ceilingRate = ceilingResult.completed / ceilingSeconds
        ceiling = { result: ceilingResult, figures: { 'requests/s': round(ceilingRate) } }
        figures['ceiling requests/s'] = round(ceilingRate)
        figures['fraction of ceiling'] = round(rate / ceilingRate)
      }
      return { scenario: `ops ${operation}`, config, machine, result, figures, ...(ceiling ? { ceiling } : {}) }
    }
    case 'hold': {
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
      Object.assign(config, options)
      const outcome = await runHold(base, options, target.process, (line) => process.stderr.write(`[hold] ${line}\n`))
      const result = outcome.recorder.result()
      const figures: Record<string, number> = { waiters, woken: result.completed, errors: result.errorCount }
      if (outcome.bytesPerWaiter !== null) figures['server bytes per held request'] = Math.round(outcome.bytesPerWaiter)
      return { scenario: 'hold', config, machine, result, figures }
    }
    default: {
      const rendezvous = intOption(args, 'rendezvous', 100_000, 1)
      const connections = intOption(args, 'connections', 64, 1)
      const options = { rendezvous, payloadBytes, connections }
      Object.assign(config, options)
      const outcome = await withProgress('fill', () => runFill(base, options, target.process))
      const result = outcome.recorder.result()
      const figures: Record<string, number> = { rendezvous, 'creates/s': round(rendezvous / result.elapsedSeconds), errors: result.errorCount }
      if (outcome.bytesPerRendezvous !== null) {
        figures['server bytes per live rendezvous'] = Math.round(outcome.bytesPerRendezvous)
        figures['server rss with all live (MiB)'] = round(outcome.rssAfterBytes! / 2 ** 20)
      }
      return { scenario: 'fill', config, machine, result, figures }
    }
  }
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

function round(n: number): number {
  return Math.round(n * 1000) / 1000
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`bench: ${error.message}`)
    process.exit(2)
  },
)
