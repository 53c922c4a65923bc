/**
 * @module A throwaway Redis Cluster for tests: three primaries, each with a replica, on free
 * loopback ports, with a short node timeout so a failover takes a few seconds. A primary can be
 * killed (SIGKILL) to force one; everything is killed at the end.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, redisServerBinary, waitForPing } from './redis-server.ts'

export interface TestCluster {
  /** `redis+cluster://127.0.0.1:a,127.0.0.1:b,127.0.0.1:c` (the seed nodes). */
  readonly url: string
  /** SIGKILLs one primary; resolves with its port. */
  killPrimary(): Promise<number>
  /** Resolves once every slot is served again (a replica promoted in the dead primary's place). */
  recovered(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

const NODE_TIMEOUT_MS = 1000

function redisCli(): string | null {
  for (const path of ['/usr/bin/redis-cli', '/usr/local/bin/redis-cli']) {
    if (spawnSync(path, ['--version'], { stdio: 'ignore' }).status === 0) return path
  }
  return null
}

/** The cluster, or null (after saying so loudly) without redis-server and redis-cli. */
export async function startTestCluster(what: string): Promise<TestCluster | null> {
  const server = redisServerBinary()
  const cli = redisCli()
  if (!server || !cli) {
    console.warn(`\n*** SKIPPED: ${what}. No ${server ? 'redis-cli' : 'redis-server'} (apt-get install redis-server; .ci/run installs it). ***\n`)
    return null
  }
  const dir = mkdtempSync(join(tmpdir(), 'rendezvous-cluster-'))
  const nodes = new Map<number, ChildProcess>()
  for (let i = 0; i < 6; i++) {
    const port = await freePort()
    const child = spawn(
      server,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        String(NODE_TIMEOUT_MS),
        '--cluster-replica-validity-factor',
        '0',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--repl-diskless-sync-delay',
        '0',
        '--loglevel',
        'warning',
      ],
      { stdio: 'ignore' },
    )
    nodes.set(port, child)
    await waitForPing(port, { child })
  }
  const ports = [...nodes.keys()]
  const created = spawnSync(cli, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], {
    encoding: 'utf8',
  })
  if (created.status !== 0) throw new Error(`redis-cli --cluster create: ${created.stdout}${created.stderr}`)

  const infoOf = async (port: number, section: 'cluster' | 'replication') => {
    const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: true })
    try {
      await client.connect()
      return section === 'cluster' ? String(await client.call('CLUSTER', 'INFO')) : await client.info('replication')
    } catch {
      return ''
    } finally {
      client.disconnect()
    }
  }
  const living = () => [...nodes].filter(([, child]) => child.exitCode === null && child.signalCode === null).map(([port]) => port)
  const settled = async (timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const states = await Promise.all(living().map((port) => infoOf(port, 'cluster')))
      const replicas = await Promise.all(living().map((port) => infoOf(port, 'replication')))
      const ok = states.every((state) => state.includes('cluster_state:ok'))
      const synced = replicas.every((info) => !info.includes('role:slave') || info.includes('master_link_status:up'))
      if (ok && synced) return
      if (Date.now() > deadline) throw new Error(`the cluster did not settle within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  await settled(30_000)
  return {
    url: `redis+cluster://${ports
      .slice(0, 3)
      .map((p) => `127.0.0.1:${p}`)
      .join(',')}`,
    async killPrimary() {
      for (const port of living()) {
        if ((await infoOf(port, 'replication')).includes('role:master')) {
          const node = nodes.get(port)!
          const exited = new Promise((resolve) => node.once('exit', resolve))
          node.kill('SIGKILL')
          await exited
          return port
        }
      }
      throw new Error('no primary to kill')
    },
    async recovered(timeoutMs = 30_000) {
      // The survivors first notice the dead primary, then promote its replica.
      await new Promise((resolve) => setTimeout(resolve, NODE_TIMEOUT_MS))
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const states = await Promise.all(living().map((port) => infoOf(port, 'cluster')))
        if (states.every((state) => state.includes('cluster_state:ok') && state.includes('cluster_slots_ok:16384'))) return
        if (Date.now() > deadline) throw new Error(`the cluster did not recover within ${timeoutMs} ms`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    async close() {
      for (const child of nodes.values()) if (child.exitCode === null) child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
