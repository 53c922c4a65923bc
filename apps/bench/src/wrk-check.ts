/**
 * @module `bun run bench wrk-check --op get-304`: the bench's own measure of server CPU per request,
 * checked against wrk (a C load generator; Debian package `wrk`) on the same server in alternating
 * rounds. Both read the server's CPU from /proc and divide by the requests served, so they must
 * agree whatever their speeds; if they differ by more than 10% the bench is wrong, and this exits 1.
 */

import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ParsedArgs, intOption, stringOption } from './cli.ts'
import { median, round, startUsage } from './meter.ts'
import { messagePayload } from './payloads.ts'
import { Recorder } from './recorder.ts'
import { OPERATIONS, type Operation, prepareOps } from './scenarios/ops.ts'
import { spawnServer } from './target.ts'
import { HttpPool } from './http.ts'
import { CLIENT_CPU, SERVER_CPU, pinSelf } from './pinning.ts'

/** The largest disagreement between the two measures that still counts as agreement. */
const TOLERANCE = 0.1

export async function wrkCheck(args: ParsedArgs): Promise<number> {
  if (spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error) {
    console.error('wrk-check: wrk is not installed (apt-get install wrk); nothing to compare against')
    return 2
  }
  const operation = (stringOption(args, 'op') ?? 'get-304') as Operation
  if (!['get-304', 'get', 'put', 'create'].includes(operation) || !OPERATIONS.includes(operation)) throw new Error('--op must be get-304, get, put or create')
  const connections = intOption(args, 'connections', 64, 1)
  const seconds = intOption(args, 'duration', 20, 2)
  const rounds = intOption(args, 'rounds', 5, 1)
  const payloadBytes = intOption(args, 'payload-bytes', 1024)
  const serverArgs = (args.values.get('server-arg') ?? []).flatMap((a) => a.split(/\s+/).filter(Boolean))
  pinSelf(CLIENT_CPU)
  const target = await spawnServer({ serverArgs, cpu: SERVER_CPU, instances: 1, store: { kind: 'memory' } })
  const scratch = mkdtempSync(join(tmpdir(), 'rz-wrk-'))
  try {
    const ours = await prepareOps(target.urls, { operation, connections, payloadBytes, ceiling: false })
    const wrkArgs = await wrkArguments(target.url, operation, payloadBytes, scratch)
    const bench: number[] = []
    const wrk: number[] = []
    for (let r = 0; r < rounds; r++) {
      const recorder = new Recorder()
      let stop = startUsage(target)
      await ours.measure(seconds / rounds, recorder)
      bench.push((stop().serverCpuSeconds * 1e6) / recorder.completed)

      stop = startUsage(target)
      const run = spawnSync(
        'taskset',
        ['-c', String(CLIENT_CPU), 'wrk', '-t1', `-c${connections}`, `-d${Math.max(1, Math.round(seconds / rounds))}s`, ...wrkArgs],
        { encoding: 'utf8' },
      )
      const usage = stop()
      const requests = Number(/(\d+) requests in/.exec(run.stdout)?.[1] ?? 0)
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(run.stdout)?.[1] ?? 0)
      if (requests === 0 || non2xx > 0) throw new Error(`wrk failed: ${run.stdout}${run.stderr}`)
      wrk.push((usage.serverCpuSeconds * 1e6) / requests)
      console.log(`round ${r + 1}: bench ${round(bench.at(-1)!)} µs/request, wrk ${round(wrk.at(-1)!)} µs/request`)
    }
    ours.close()
    const benchMedian = median(bench)
    const wrkMedian = median(wrk)
    const difference = Math.abs(benchMedian - wrkMedian) / wrkMedian
    console.log(
      `\n${operation}: server CPU per request, median of ${rounds} rounds: bench ${round(benchMedian)} µs, wrk ${round(wrkMedian)} µs; difference ${round(100 * difference)}%`,
    )
    if (difference > TOLERANCE) {
      console.error(`wrk-check: the two measures differ by more than ${100 * TOLERANCE}%: the bench's figure cannot be trusted`)
      return 1
    }
    console.log(`agree within ${100 * TOLERANCE}%`)
    return 0
  } finally {
    rmSync(scratch, { recursive: true, force: true })
    await target.stop()
  }
}

/** wrk's arguments for `operation`: a prepared rendezvous, and a Lua script when there is a body. */
async function wrkArguments(base: URL, operation: Operation, payloadBytes: number, scratch: string): Promise<string[]> {
  const pool = new HttpPool(base.hostname, Number(base.port), 1)
  const body = messagePayload({ pair: 0, handshake: 0, seq: 0 }, payloadBytes)
  const created = await pool.send({ method: 'POST', path: '/', body })
  pool.close()
  const id = (JSON.parse(new TextDecoder().decode(created.body)) as { id: string }).id
  const etag = created.header('etag')!
  const script = (method: string) => {
    const file = join(scratch, `${method}.lua`)
    writeFileSync(file, `wrk.method = "${method}"\nwrk.body = string.rep("x", ${payloadBytes})\n`)
    return ['-s', file]
  }
  switch (operation) {
    case 'get-304':
      return ['-H', `If-None-Match: ${etag}`, `${base.origin}/${id}`]
    case 'get':
      return [`${base.origin}/${id}`]
    case 'put':
      return [...script('PUT'), `${base.origin}/${id}`]
    default:
      return [...script('POST'), `${base.origin}/`]
  }
}
