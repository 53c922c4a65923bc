/**
 * @module The one shape of a bench scenario: a name and a `run` that takes the parsed options and
 * the target and returns its report, figures included. `main.ts` parses the command line, starts
 * the target and dispatches; each scenario file owns its options, its run and its figures.
 */

import type { ParsedArgs } from '../cli.ts'
import type { Recorder } from '../recorder.ts'
import type { BenchReport } from '../report.ts'
import { type Target, openFilesLimit } from '../target.ts'

export type Figures = Record<string, number>
export type Report = BenchReport & { figures: Figures }

export interface ScenarioContext {
  readonly args: ParsedArgs
  readonly target: Target
  /** The run's configuration, reported with it; a scenario adds its own options. */
  readonly config: Record<string, unknown>
  readonly machine: BenchReport['machine']
  readonly payloadBytes: number
  /** Where comparison servers are pinned, or null when nothing is pinned. */
  readonly comparisonCpu: number | null
  /** The bench's entry file, which client worker processes are started from. */
  readonly entry: string
}

export interface Scenario {
  readonly name: 'ops' | 'handshake' | 'hold' | 'fill'
  run(context: ScenarioContext): Promise<Report>
}

export function warn(message: string | null): void {
  if (message) console.error(`\n${message}\n`)
}

/** Stops with a clear message when the open-files limit cannot hold `connections` sockets. */
export function checkOpenFiles(connections: number): void {
  const limit = openFilesLimit()
  if (limit !== null && connections + 64 > limit) {
    throw new Error(
      `the open-files limit is ${limit}, too low for ${connections} connections: raise it for this shell and the server (e.g. \`ulimit -n ${connections * 2 + 1024}\`, or LimitNOFILE in a systemd unit)`,
    )
  }
}

/** A live progress line on a terminal; nothing when stderr is not one. */
export function progress(label: string, recorder: Recorder, total: number | null): () => void {
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

export async function withProgress<T>(label: string, run: () => Promise<T>): Promise<T> {
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
