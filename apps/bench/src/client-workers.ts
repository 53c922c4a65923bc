/**
 * @module `ops --client-workers N`: the client spread over N processes, so that on a machine with
 * cores to spare the load generator is never what sets the pace. The bench process is one of the N;
 * the others are children running the same closed loop on their share of the connections, started
 * together for each round, each reporting what it measured and the CPU it used.
 */

import { readLinesOf } from './lines.ts'
import { Recorder, type RecorderResult } from './recorder.ts'
import { type Operation, type PreparedOps, prepareOps } from './scenarios/ops.ts'

/** What a worker needs to know, passed in its environment. */
export interface ClientWorkerSpec {
  /** Every server of the run, by name: ours and the comparisons (`comparison`: nothing to prepare). */
  readonly sides: readonly { readonly name: string; readonly urls: readonly string[]; readonly comparison: boolean }[]
  readonly operation: Operation
  readonly connections: number
  readonly payloadBytes: number
}

/** One worker's report of one round. */
export interface ClientRound {
  readonly seconds: number
  readonly cpuSeconds: number
  readonly result: RecorderResult
}

const SPEC_ENV = 'RZ_BENCH_CLIENT_SPEC'
export const CLIENT_WORKER_COMMAND = '__ops-client'

type Child = Bun.Subprocess<'pipe', 'pipe', 'inherit'>

export class ClientWorkers {
  readonly #children: Child[]
  readonly #lines: AsyncIterator<string>[]

  private constructor(children: Child[], lines: AsyncIterator<string>[]) {
    this.#children = children
    this.#lines = lines
  }

  /** Starts `count` worker processes, pinned like this one when `cpu` is given, and waits until each is prepared. */
  static async start(count: number, spec: ClientWorkerSpec, main: string, cpu: number | null): Promise<ClientWorkers> {
    const command = [process.execPath, main, CLIENT_WORKER_COMMAND]
    const children = Array.from({ length: count }, () =>
      Bun.spawn(cpu === null ? command : ['taskset', '-c', String(cpu), ...command], {
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'inherit',
        env: { ...process.env, [SPEC_ENV]: JSON.stringify(spec) },
      }),
    )
    const lines = children.map((child) => readLines(child.stdout))
    for (const line of lines) {
      const first = await line.next()
      if (first.done || first.value !== 'ready') throw new Error(`a client worker failed to start: ${first.value ?? 'exited'}`)
    }
    return new ClientWorkers(children, lines)
  }

  /** Has every worker run `seconds` of closed loop against the server named `which`, with the caller. */
  async round(which: string, seconds: number): Promise<ClientRound[]> {
    for (const child of this.#children) {
      child.stdin.write(`${which} ${seconds}\n`)
      child.stdin.flush()
    }
    return Promise.all(
      this.#lines.map(async (line) => {
        const answer = await line.next()
        if (answer.done) throw new Error('a client worker exited mid-run')
        return JSON.parse(answer.value) as ClientRound
      }),
    )
  }

  async close(): Promise<void> {
    for (const child of this.#children) {
      child.stdin.write('exit\n')
      child.stdin.end()
    }
    await Promise.all(this.#children.map((child) => child.exited))
  }
}

/** The worker side: prepare, say `ready`, then run each round asked for on stdin. */
export async function runClientWorker(): Promise<void> {
  const spec = JSON.parse(process.env[SPEC_ENV] ?? 'null') as ClientWorkerSpec | null
  if (!spec) throw new Error(`${CLIENT_WORKER_COMMAND} is started by the bench itself`)
  const options = { operation: spec.operation, connections: spec.connections, payloadBytes: spec.payloadBytes }
  const prepared = new Map<string, PreparedOps>()
  for (const side of spec.sides)
    prepared.set(
      side.name,
      await prepareOps(
        side.urls.map((u) => new URL(u)),
        { ...options, ceiling: side.comparison },
      ),
    )
  process.stdout.write('ready\n')
  for await (const line of readLinesOf(Bun.stdin.stream())) {
    const space = line.lastIndexOf(' ')
    const which = space < 0 ? line : line.slice(0, space)
    if (which === 'exit') break
    const recorder = new Recorder()
    const cpu = process.cpuUsage()
    const ran = await prepared.get(which)!.measure(Number(line.slice(space + 1)), recorder)
    const used = process.cpuUsage(cpu)
    const round: ClientRound = { seconds: ran, cpuSeconds: (used.user + used.system) / 1e6, result: recorder.result() }
    process.stdout.write(`${JSON.stringify(round)}\n`)
  }
  for (const ops of prepared.values()) ops.close()
}

function readLines(stream: ReadableStream<Uint8Array>): AsyncIterator<string> {
  return readLinesOf(stream)[Symbol.asyncIterator]()
}
