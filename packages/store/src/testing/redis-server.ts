/**
 * @module A throwaway `redis-server` for tests: started on a free loopback port with no persistence,
 * stopped and restarted on demand (for outage tests), killed at the end. With `REDIS_URL` set, that
 * Redis is used instead (and the tests that would stop it are skipped); a Redis the tests did not
 * start is never touched otherwise. Every store opened on it gets its own key prefix.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
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
  const port = await freePort()
  const directory = options.persistent ? mkdtempSync(join(tmpdir(), 'rendezvous-redis-')) : null
  const persistence = directory ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', directory] : ['--appendonly', 'no']
  let child: ChildProcess | null = null
  const start = async () => {
    child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--loglevel', 'warning', ...(options.args ?? [])], {
      stdio: 'ignore',
    })
    await waitForPing(port)
  }
  const stop = async () => {
    const running = child
    child = null
    if (!running || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill('SIGKILL')
    await exited
  }
  await start()
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

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/** Waits until the server on `port` answers PING (plain RESP over a socket, no client library). */
export async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const { connect } = await import('node:net')
  const deadline = Date.now() + timeoutMs
  for (;;) {
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
