/**
 * @module A throwaway `redis-server` for tests: started on a free loopback port with no persistence,
 * stopped and restarted on demand (for outage tests), killed at the end. With `REDIS_URL` set, that
 * Redis is used instead (and the tests that would stop it are skipped); a Redis the tests did not
 * start is never touched otherwise. Every store opened on it gets its own key prefix.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestRedis {
  readonly url: string
  /** True when `REDIS_URL` named a Redis these tests must not stop. */
  readonly external: boolean
  /** A key prefix no other store in this run uses. */
  uniquePrefix(): string
  /** Stops the server (an outage). Only for a server we started. */
  stop(): Promise<void>
  /** Starts it again on the same port: empty, or with what it had when `persistent`. */
  start(): Promise<void>
  /** Freezes the server (SIGSTOP): connections stay open and nothing answers. */
  pause(): void
  /** Thaws a paused server (SIGCONT). */
  resume(): void
  /** Stops it for good. */
  close(): Promise<void>
}

const REDIS_SERVER_PATHS = ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/usr/sbin/redis-server']

/** The redis-server binary, or null when none is installed. */
export function redisServerBinary(): string | null {
  for (const path of REDIS_SERVER_PATHS) {
    if (spawnSync(path, ['--version'], { stdio: 'ignore' }).status === 0) return path
  }
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0 ? 'redis-server' : null
}

/**
 * The Redis for this test file, or null (after saying so loudly) when there is neither `REDIS_URL`
 * nor a redis-server binary.
 */
export interface TestRedisOptions {
  /**
   * Write every acknowledged command to an append-only file (fsync each time) in a temporary
   * directory, so that a killed and restarted server has lost nothing it acknowledged.
   */
  readonly persistent?: boolean
  /** More `redis-server` arguments, e.g. `['--maxmemory-policy', 'allkeys-lru']`. */
  readonly args?: readonly string[]
}

export async function startTestRedis(what: string, options: TestRedisOptions = {}): Promise<TestRedis | null> {
  let counter = 0
  const uniquePrefix = () => `rz-test-${process.pid}-${Date.now().toString(36)}-${counter++}:`
  const external = process.env['REDIS_URL']
  if (external) {
    const fail = async () => {
      throw new Error('REDIS_URL names a Redis these tests do not own: they will not stop it')
    }
    const refuse = () => {
      throw new Error('REDIS_URL names a Redis these tests do not own: they will not pause it')
    }
    return { url: external, external: true, uniquePrefix, stop: fail, start: fail, pause: refuse, resume: refuse, close: async () => {} }
  }
  const binary = redisServerBinary()
  if (binary === null) {
    console.warn(`\n*** SKIPPED: ${what}. No redis-server (apt-get install redis-server; .ci/run installs it), and no REDIS_URL. ***\n`)
    return null
  }
  const directory = options.persistent ? mkdtempSync(join(tmpdir(), 'rendezvous-redis-')) : null
  const persistence = directory ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', directory] : ['--appendonly', 'no']
  let port = await freePort()
  let child: ChildProcess | null = null
  const start = async () => {
    child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--loglevel', 'warning', ...(options.args ?? [])], {
      stdio: 'ignore',
    })
    await waitForPing(port, { child })
  }
  const stop = async () => {
    const running = child
    child = null
    if (!running || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill('SIGKILL')
    await exited
  }
  // Another process may bind the port between the probe and redis-server's own bind; that shows
  // as an early exit, and a fresh port is tried.
  for (let attempt = 1; ; attempt++) {
    try {
      await start()
      break
    } catch (error) {
      if (!(error instanceof ExitedBeforePing) || attempt === PORT_ATTEMPTS) throw error
      port = await freePort()
    }
  }
  const signal = (name: NodeJS.Signals) => () => {
    if (child?.exitCode === null) child.kill(name)
  }
  const close = async () => {
    signal('SIGCONT')()
    await stop()
    if (directory) rmSync(directory, { recursive: true, force: true })
  }
  return { url: `redis://127.0.0.1:${port}`, external: false, uniquePrefix, stop, start, pause: signal('SIGSTOP'), resume: signal('SIGCONT'), close }
}

const PORT_ATTEMPTS = 5

/**
 * A free loopback port below the kernel's ephemeral range (and low enough that a cluster node's
 * bus port, 10000 above, is below it too), so that no outgoing connection of a busy test run can
 * take it between this probe and the server's own bind, as a port-0 pick could.
 */
export async function freePort(): Promise<number> {
  const [low, high] = [20_000, Math.min(ephemeralLow(), 55_536) - 10_001]
  for (let tries = 0; tries < 100; tries++) {
    const port = low + Math.floor(Math.random() * (high - low))
    if (await canBind(port)) return port
  }
  throw new Error(`no free loopback port between ${low} and ${high}`)
}

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 30_001 ? low : 32_768
  } catch {
    return 32_768
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
}

/** The server process ended before it answered: its port was probably taken. */
export class ExitedBeforePing extends Error {}

export interface WaitForPingOptions {
  readonly timeoutMs?: number
  /** The server's process: its exit ends the wait at once, with `ExitedBeforePing`. */
  readonly child?: ChildProcess
}

/** Waits until the server on `port` answers PING (plain RESP over a socket, no client library). */
export async function waitForPing(port: number, { timeoutMs = 10_000, child }: WaitForPingOptions = {}): Promise<void> {
  const { connect } = await import('node:net')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new ExitedBeforePing(`the server for port ${port} exited (${child.exitCode ?? child.signalCode}) before it answered PING`)
    }
    const answered = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => socket.write('PING\r\n'))
      socket.once('data', (data) => {
        socket.destroy()
        resolve(data.toString().startsWith('+PONG'))
      })
      socket.once('error', () => resolve(false))
    })
    if (answered) return
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
