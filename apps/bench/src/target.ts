/**
 * @module The server under test: one already running (`--url`), or one we spawn and stop, whose
 * memory and CPU we then read from the operating system.
 */

import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'

export interface Target {
  readonly url: URL
  /** Present when we spawned the server. */
  readonly process: ServerProcess | null
  stop(): Promise<void>
}

export interface ServerProcess {
  readonly pid: number
  /** Resident set size in bytes, from /proc. */
  rssBytes(): number
  /** User plus system CPU time consumed so far, in seconds, from /proc. */
  cpuSeconds(): number
}

const SERVER_MAIN = resolve(import.meta.dirname, '../../server/src/main.ts')
const CEILING_MAIN = resolve(import.meta.dirname, 'ceiling.ts')
const CLOCK_TICKS = 100

/** A server already running at `url`; only loopback unless `allowRemote`. */
export function existingTarget(url: string, allowRemote: boolean): Target {
  const parsed = new URL(url)
  if (!allowRemote && !isLoopback(parsed.hostname)) {
    throw new Error(`refusing to load ${parsed.hostname}: only loopback targets unless --allow-remote`)
  }
  return { url: parsed, process: null, stop: async () => {} }
}

export interface SpawnOptions {
  /** Extra flags for the server, e.g. `--ttl 60`. */
  readonly serverArgs: readonly string[]
  /** CPU to pin the server to with taskset, or null for no pinning. */
  readonly cpu: number | null
}

/**
 * Starts our server on a free loopback port. Rate limits and capacity caps are lifted (the bench is
 * one address creating far more than a person would) and per-request logging is off; every other
 * setting is the default unless `serverArgs` says otherwise (later flags win).
 */
export function spawnServer(options: SpawnOptions): Promise<Target> {
  const port = freePort()
  const args = [
    '--host', '127.0.0.1', '--port', String(port),
    '--rate-limit', 'off', '--create-rate-limit', 'off',
    '--max-in-flight', '1000000', '--max-waiters', '1000000',
    '--max-sessions', '100000000', '--max-total-bytes', String(64 * 1024 ** 3),
    '--log-level', 'warn',
    ...options.serverArgs,
  ]
  return spawnListening([process.execPath, SERVER_MAIN, ...args], options.cpu, `http://127.0.0.1:${port}/`, 'health')
}

/** Starts the bare Bun.serve ceiling server (see ceiling.ts). */
export function spawnCeiling(cpu: number | null): Promise<Target> {
  const port = freePort()
  return spawnListening([process.execPath, CEILING_MAIN, String(port)], cpu, `http://127.0.0.1:${port}/`, 'x')
}

/** A port nobody listens on right now: bind port 0, note what we got, let go. */
function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const { port } = probe
  probe.stop(true)
  return port
}

/** How long a spawned server may take to answer its first request. */
const START_TIMEOUT_MS = 15_000

async function spawnListening(command: string[], cpu: number | null, url: string, probePath: string): Promise<Target> {
  const argv = cpu === null ? command : ['taskset', '-c', String(cpu), ...command]
  // Output is discarded, never piped: a pipe nobody reads would eventually block the server.
  const child = Bun.spawn(argv, { stdout: 'ignore', stderr: 'inherit', stdin: 'ignore' })
  const stop = async () => {
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await child.exited
    clearTimeout(timer)
  }
  const deadline = performance.now() + START_TIMEOUT_MS
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command.join(' ')} exited with ${child.exitCode} before listening`)
    try {
      const response = await fetch(`${url}${probePath}`, { signal: AbortSignal.timeout(1000) })
      await response.arrayBuffer()
      if (response.ok) break
    } catch {
      // Not listening yet.
    }
    if (performance.now() > deadline) {
      await stop()
      throw new Error(`${command.join(' ')} did not answer within ${START_TIMEOUT_MS / 1000} s`)
    }
    await Bun.sleep(50)
  }
  const pid = child.pid
  return {
    url: new URL(url),
    process: { pid, rssBytes: () => readRss(pid), cpuSeconds: () => readCpu(pid) },
    stop,
  }
}

function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
  return Number(kb ?? 0) * 1024
}

function readCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\.\d+\.\d+\.\d+$/.test(hostname)
}

/** The open-files limit of this process, from /proc (null when unknown). */
export function openFilesLimit(): number | null {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8')
    const soft = /Max open files\s+(\d+)/.exec(limits)?.[1]
    return soft === undefined ? null : Number(soft)
  } catch {
    return null
  }
}
