/**
 * @module The servers under test: one already running (`--url`), or processes we spawn and stop —
 * our server (one or several instances, on the memory store or on a Redis we also start), the bare
 * Bun ceiling, or the do-nothing rendezvous — whose CPU time, memory and garbage collections we read
 * from the operating system and from the engine's own GC log.
 */

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { readLinesOf } from './lines.ts'

export interface ServerProcess {
  readonly pid: number
  /** What this process is, for reports: `server`, `redis`, `ceiling`, … */
  readonly role: string
  /** Resident set size in bytes, from /proc. */
  rssBytes(): number
  /** User plus system CPU time consumed so far, in seconds, from /proc. */
  cpuSeconds(): number
  /** Every garbage-collection pause so far, in milliseconds, in order (empty when not logged). */
  readonly gcPausesMs: readonly number[]
}

export interface Target {
  /** One URL per instance of the server; the first is where single-instance scenarios go. */
  readonly urls: readonly URL[]
  readonly url: URL
  /** The server processes we spawned (none for `--url`). */
  readonly processes: readonly ServerProcess[]
  /** The Redis we spawned for `--store redis`, if any. */
  readonly redis: ServerProcess | null
  /** The Redis URL the servers use, when they use one. */
  readonly redisUrl: string | null
  stop(): Promise<void>
}

const SERVER_MAIN = resolve(import.meta.dirname, '../../server/src/main.ts')
const CEILING_MAIN = resolve(import.meta.dirname, 'ceiling.ts')
const NULL_RENDEZVOUS_MAIN = resolve(import.meta.dirname, 'null-rendezvous.ts')
const MINIMAL_ELYSIA_MAIN = resolve(import.meta.dirname, 'minimal-elysia.ts')
const CLOCK_TICKS = 100

/** A server already running at `url`; only loopback unless `allowRemote`. */
export function existingTarget(url: string, allowRemote: boolean): Target {
  const parsed = new URL(url)
  if (!allowRemote && !isLoopback(parsed.hostname)) {
    throw new Error(`refusing to load ${parsed.hostname}: only loopback targets unless --allow-remote`)
  }
  return { urls: [parsed], url: parsed, processes: [], redis: null, redisUrl: null, stop: async () => {} }
}

export interface SpawnOptions {
  /** Extra flags for the server, e.g. `--ttl 60`. */
  readonly serverArgs: readonly string[]
  /** CPU to pin the server side (servers and Redis) to with taskset, or null for no pinning. */
  readonly cpu: number | null
  /** Server processes sharing one Redis (1 with the memory store). */
  readonly instances: number
  /** `memory`, or `redis` with the URL of a Redis to use (null: start our own). */
  readonly store: { readonly kind: 'memory' } | { readonly kind: 'redis'; readonly url: string | null }
}

/**
 * Starts our server on free loopback ports. Rate limits and capacity caps are lifted (the bench is
 * one address creating far more than a person would) and per-request logging is off; every other
 * setting is the default unless `serverArgs` says otherwise (later flags win).
 */
export async function spawnServer(options: SpawnOptions): Promise<Target> {
  const started: Spawned[] = []
  let redis: Spawned | null = null
  let redisUrl: string | null = null
  try {
    if (options.store.kind === 'redis') {
      redisUrl = options.store.url
      if (redisUrl === null) {
        redis = await spawnRedis(options.cpu)
        redisUrl = `redis://127.0.0.1:${redis.port}`
      }
    }
    const prefix = `rz-bench-${Date.now().toString(36)}:`
    for (let i = 0; i < options.instances; i++) {
      const port = freePort()
      const args = [
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--rate-limit',
        'off',
        '--create-rate-limit',
        'off',
        '--max-in-flight-per-client',
        'off',
        '--max-in-flight',
        '1000000',
        '--max-waiters',
        '1000000',
        '--max-sessions',
        '100000000',
        '--max-total-bytes',
        String(64 * 1024 ** 3),
        '--log-level',
        'warn',
        '--shutdown-drain',
        '0',
        ...(redisUrl ? ['--store', redisUrl, '--redis-prefix', prefix] : []),
        ...options.serverArgs,
      ]
      started.push(await spawnListening('server', [process.execPath, SERVER_MAIN, ...args], options.cpu, port, '/ready'))
    }
  } catch (error) {
    await Promise.all([...started, ...(redis ? [redis] : [])].map((s) => s.stop()))
    throw error
  }
  const urls = started.map((s) => new URL(`http://127.0.0.1:${s.port}/`))
  return {
    urls,
    url: urls[0]!,
    processes: started.map((s) => s.process),
    redis: redis?.process ?? null,
    redisUrl,
    async stop() {
      await Promise.all(started.map((s) => s.stop()))
      await redis?.stop()
    },
  }
}

/**
 * Starts a comparison server: `bare` is a `Bun.serve` that does nothing but answer (ceiling.ts),
 * `null-rendezvous` one that keeps rendezvous in a Map with ETags and long-poll and nothing else
 * (null-rendezvous.ts), `minimal-elysia` an Elysia app doing one operation with our headers and
 * none of our guarantees (minimal-elysia.ts).
 */
export async function spawnComparison(kind: 'bare' | 'null-rendezvous' | 'minimal-elysia', cpu: number | null): Promise<Target> {
  const port = freePort()
  const main = { bare: CEILING_MAIN, 'null-rendezvous': NULL_RENDEZVOUS_MAIN, 'minimal-elysia': MINIMAL_ELYSIA_MAIN }[kind]
  const spawned = await spawnListening(kind === 'bare' ? 'ceiling' : kind, [process.execPath, main, String(port)], cpu, port, '/health')
  const url = new URL(`http://127.0.0.1:${port}/`)
  return { urls: [url], url, processes: [spawned.process], redis: null, redisUrl: null, stop: spawned.stop }
}

// --- Processes ---

interface Spawned {
  readonly port: number
  readonly process: ServerProcess
  stop(): Promise<void>
}

/** How long a spawned server may take to answer its first request. */
const START_TIMEOUT_MS = 15_000
/** One line of JavaScriptCore's GC log (`BUN_JSC_logGC=1`) per collection carries its pause. */
const GC_PAUSE = /\[GC<[^>]*>: START .* p=([\d.]+)ms/

async function spawnListening(role: string, command: string[], cpu: number | null, port: number, probePath: string): Promise<Spawned> {
  const argv = cpu === null ? command : ['taskset', '-c', String(cpu), ...command]
  const child = Bun.spawn(argv, {
    stdout: 'ignore',
    stderr: 'pipe',
    stdin: 'ignore',
    // The engine logs every collection with its pause: the figures a run reports about GC.
    // The bench measures the API; a metrics listener of each server would only contend for a port.
    env: { ...process.env, BUN_JSC_logGC: '1', RENDEZVOUS_METRICS_LISTEN: 'off' },
  })
  const gcPausesMs: number[] = []
  void followStderr(child.stderr, (line) => {
    const gc = GC_PAUSE.exec(line)
    if (gc) gcPausesMs.push(Number(gc[1]))
    // The server's own warnings and errors stay visible; the engine's chatter does not.
    else if (line.startsWith('{') && !line.includes('"level":"info"')) process.stderr.write(`[${role}] ${line}\n`)
  })
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
      const response = await fetch(`http://127.0.0.1:${port}${probePath}`, { signal: AbortSignal.timeout(1000) })
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
  return { port, process: { pid, role, rssBytes: () => readRss(pid), cpuSeconds: () => readCpu(pid), gcPausesMs }, stop }
}

/** A redis-server with no persistence on a free port (the Debian package's binary). */
async function spawnRedis(cpu: number | null): Promise<Spawned> {
  const binary = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((path) => spawnSync(path, ['--version'], { stdio: 'ignore' }).status === 0)
  if (!binary) throw new Error('--store redis needs redis-server (apt-get install redis-server) or --redis-url')
  const port = freePort()
  const argv = [binary, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning']
  const child = Bun.spawn(cpu === null ? argv : ['taskset', '-c', String(cpu), ...argv], { stdio: ['ignore', 'ignore', 'inherit'] })
  const deadline = performance.now() + START_TIMEOUT_MS
  while (!(await pingRedis(port))) {
    if (child.exitCode !== null || performance.now() > deadline) throw new Error('redis-server did not start')
    await Bun.sleep(25)
  }
  const pid = child.pid
  return {
    port,
    process: { pid, role: 'redis', rssBytes: () => readRss(pid), cpuSeconds: () => readCpu(pid), gcPausesMs: [] },
    async stop() {
      child.kill('SIGKILL')
      await child.exited
    },
  }
}

async function pingRedis(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } })
    socket.end()
    return true
  } catch {
    return false
  }
}

async function followStderr(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  for await (const line of readLinesOf(stream)) onLine(line)
}

/** A port nobody listens on right now: bind port 0, note what we got, let go. */
function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const { port } = probe
  probe.stop(true)
  return port
}

function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
  return Number(kb ?? 0) * 1024
}

/** utime + stime of a process, from /proc/<pid>/stat. */
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
