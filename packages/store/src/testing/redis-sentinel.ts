/**
 * @module A throwaway Sentinel-managed Redis for tests: a primary, one replica and three sentinels
 * (quorum 2) on free loopback ports, with a short down-after time so a failover takes a few
 * seconds. The primary can be killed (SIGKILL) to force one; everything is killed at the end.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, redisServerBinary, waitForPing } from './redis-server.ts'

export interface TestSentinels {
  /** `redis+sentinel://127.0.0.1:a,127.0.0.1:b,127.0.0.1:c/<name>` */
  readonly url: string
  readonly name: string
  /** The port of the node the sentinels call primary now. */
  primaryPort(): Promise<number>
  /** SIGKILLs the current primary; resolves with its port. */
  killPrimary(): Promise<number>
  /**
   * Freezes the replica (SIGSTOP) and closes its replication link on the primary's side, so what the
   * primary takes from now on lives on the primary alone (not even in a socket buffer on its way).
   */
  cutReplica(): Promise<void>
  /** Thaws the replica (SIGCONT). */
  resumeReplica(): Promise<void>
  /** Resolves once the sentinels name a primary other than `port`, with the new one's port. */
  failedOverFrom(port: number, timeoutMs?: number): Promise<number>
  close(): Promise<void>
}

const MASTER = 'rzprimary'
/** Sentinel must see the primary silent this long before it calls it down. */
const DOWN_AFTER_MS = 1000

function sentinelBinary(): string | null {
  for (const path of ['/usr/bin/redis-sentinel', '/usr/local/bin/redis-sentinel']) {
    if (spawnSync(path, ['--version'], { stdio: 'ignore' }).status === 0) return path
  }
  return null
}

/** The topology, or null (after saying so loudly) without redis-server and redis-sentinel. */
export async function startTestSentinels(what: string, options: { readonly args?: readonly string[] } = {}): Promise<TestSentinels | null> {
  const server = redisServerBinary()
  const sentinel = sentinelBinary()
  if (!server || !sentinel) {
    console.warn(
      `\n*** SKIPPED: ${what}. No ${server ? 'redis-sentinel' : 'redis-server'} (apt-get install redis-server redis-sentinel; .ci/run installs them). ***\n`,
    )
    return null
  }
  const dir = mkdtempSync(join(tmpdir(), 'rendezvous-sentinel-'))
  const children: ChildProcess[] = []
  const nodes = new Map<number, ChildProcess>()
  // A replica syncs at once (not after the default 5 s of waiting for more replicas to join).
  const common = [
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--loglevel',
    'warning',
    '--replica-announce-ip',
    '127.0.0.1',
    '--repl-diskless-sync-delay',
    '0',
    ...(options.args ?? []),
  ]
  const primary = await freePort()
  const replica = await freePort()
  for (const [port, extra] of [
    [primary, []],
    [replica, ['--replicaof', '127.0.0.1', String(primary)]],
  ] as const) {
    const child = spawn(server, ['--port', String(port), ...common, ...extra], { stdio: 'ignore' })
    children.push(child)
    nodes.set(port, child)
    await waitForPing(port, { child })
  }
  const sentinelPorts: number[] = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    const conf = join(dir, `sentinel-${port}.conf`)
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER} 127.0.0.1 ${primary} 2`,
        `sentinel down-after-milliseconds ${MASTER} ${DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${MASTER} 5000`,
        `sentinel parallel-syncs ${MASTER} 1`,
        '',
      ].join('\n'),
    )
    const child = spawn(sentinel, [conf, '--loglevel', 'warning'], { stdio: 'ignore' })
    children.push(child)
    sentinelPorts.push(port)
    await waitForPing(port, { child })
  }
  const asker = new Redis({ host: '127.0.0.1', port: sentinelPorts[0]!, lazyConnect: true, maxRetriesPerRequest: 1 })
  const ask = (...args: string[]) => asker.call('SENTINEL', ...args).catch(() => null) as Promise<unknown>
  const primaryPort = async (): Promise<number> => {
    const address = (await ask('get-master-addr-by-name', MASTER)) as [string, string] | null
    return Number(address?.[1] ?? 0)
  }
  // Wait until the replica has synced, and the sentinels have met it and each other: a failover needs all three.
  const replicaClient = new Redis({ host: '127.0.0.1', port: replica, maxRetriesPerRequest: 1 })
  for (let i = 0; i < 200 && !(await replicaClient.info('replication')).includes('master_link_status:up'); i++)
    await new Promise((resolve) => setTimeout(resolve, 25))
  replicaClient.disconnect()
  // Wait until the sentinels have met the replica and each other: a failover needs both.
  for (let i = 0; i < 200; i++) {
    const replicas = (await ask('replicas', MASTER)) as unknown[] | null
    const others = (await ask('sentinels', MASTER)) as unknown[] | null
    if (replicas?.length === 1 && others?.length === 2) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    url: `redis+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${MASTER}`,
    name: MASTER,
    primaryPort,
    async killPrimary() {
      const port = await primaryPort()
      const node = nodes.get(port)
      if (!node) throw new Error(`no node on port ${port}`)
      const exited = new Promise((resolve) => node.once('exit', resolve))
      node.kill('SIGKILL')
      await exited
      return port
    },
    async cutReplica() {
      const primary = await primaryPort()
      for (const [port, node] of nodes) if (port !== primary) node.kill('SIGSTOP')
      const client = new Redis({ host: '127.0.0.1', port: primary, maxRetriesPerRequest: 1 })
      try {
        await client.call('CLIENT', 'KILL', 'TYPE', 'replica')
        for (let i = 0; i < 100 && !(await client.info('replication')).includes('connected_slaves:0'); i++)
          await new Promise((resolve) => setTimeout(resolve, 10))
      } finally {
        client.disconnect()
      }
    },
    async resumeReplica() {
      for (const node of nodes.values()) if (node.exitCode === null) node.kill('SIGCONT')
    },
    async failedOverFrom(port, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const now = await primaryPort()
        if (now && now !== port) return now
        if (Date.now() > deadline) throw new Error(`no failover from ${port} within ${timeoutMs} ms`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    async close() {
      asker.disconnect()
      for (const child of children) {
        if (child.exitCode !== null) continue
        child.kill('SIGCONT')
        child.kill('SIGKILL')
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
