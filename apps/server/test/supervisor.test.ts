/**
 * The supervisor of `RENDEZVOUS_WORKERS=N` as operators meet it: a stopped worker is replaced, a
 * stop is bounded, workers do not outlive their supervisor, SIGHUP reloads the token file, and a
 * crash loop ends in a non-zero exit systemd or Kubernetes can see.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestRedis } from '@rendezvous/store/testing/redis'
import { afterAll, describe, expect, it } from 'vitest'
import { logLines, spawnMain } from './process.ts'

const redis = await startTestRedis('supervisor tests (workers need a shared store)')
afterAll(() => redis?.close())

const directory = mkdtempSync(join(tmpdir(), 'rendezvous-supervisor-'))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!predicate()) {
    if (performance.now() > deadline) return false
    await Bun.sleep(20)
  }
  return true
}

/** A supervisor of two workers on the test Redis; resolves once both listen. */
async function startWorkers(env: Record<string, string> = {}, args: readonly string[] = []) {
  const supervisor = spawnMain(['--host', '127.0.0.1', '--port', '0', '--workers', '2', '--shutdown-drain', '0', '--shutdown-grace', '1', ...args], {
    RENDEZVOUS_STORE: redis!.url,
    RENDEZVOUS_REDIS_PREFIX: redis!.uniquePrefix(),
    RENDEZVOUS_RATE_LIMIT: 'off',
    RENDEZVOUS_CREATE_RATE_LIMIT: 'off',
    ...env,
  })
  const lines = logLines(supervisor.stderr)
  const listening = (await lines.until((all) => all.filter((l) => l['msg'] === 'listening').length >= 2)).filter((l) => l['msg'] === 'listening')
  const pids = listening.map((l) => l['pid'] as number)
  return { supervisor, lines, pids, base: listening[0]!['url'] as string }
}

/** A POST on a fresh connection, so the kernel picks a worker for each one. */
async function createOnNewConnection(base: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(base, { method: 'POST', body: 'x', headers: { connection: 'close', ...headers }, signal: AbortSignal.timeout(2000) })
  await response.arrayBuffer()
  return response.status
}

describe.skipIf(!redis)('the supervisor', () => {
  it('should replace a worker that stops answering (SIGSTOP) within a few seconds, and then answer every new connection', async () => {
    const { supervisor, lines, pids, base } = await startWorkers()
    try {
      const stopped = pids[0]!
      process.kill(stopped, 'SIGSTOP')
      const stoppedAt = performance.now()
      const all = await lines.until((all) => all.filter((l) => l['msg'] === 'listening').length >= 3, 10_000)
      expect(performance.now() - stoppedAt).toBeLessThan(8000)
      expect(all.find((l) => l['msg'] === 'worker stopped answering; replacing it')?.['pid']).toBe(stopped)
      expect(await waitUntil(() => !alive(stopped), 2000)).toBe(true)
      const statuses = await Promise.all(Array.from({ length: 12 }, () => createOnNewConnection(base)))
      expect(statuses).toEqual(statuses.map(() => 200))
      supervisor.kill('SIGTERM')
      expect(await supervisor.exited).toBe(0)
    } finally {
      supervisor.kill('SIGKILL')
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    }
  }, 30_000)

  it('should bound SIGTERM by drain + grace, killing a worker that cannot stop', async () => {
    const { supervisor, pids } = await startWorkers()
    try {
      process.kill(pids[1]!, 'SIGSTOP')
      const stoppingAt = performance.now()
      supervisor.kill('SIGTERM')
      await supervisor.exited
      // Drain 0 s + grace 1 s, a 2 s margin, half a second to see it die.
      expect(performance.now() - stoppingAt).toBeLessThan(5000)
      expect(await waitUntil(() => pids.every((pid) => !alive(pid)), 1000)).toBe(true)
    } finally {
      supervisor.kill('SIGKILL')
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    }
  }, 30_000)

  it('should leave no worker serving once the supervisor is killed with SIGKILL', async () => {
    const { supervisor, pids, base } = await startWorkers()
    try {
      supervisor.kill('SIGKILL')
      await supervisor.exited
      expect(await waitUntil(() => pids.every((pid) => !alive(pid)), 5000)).toBe(true)
      await expect(createOnNewConnection(base)).rejects.toThrow()
    } finally {
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    }
  }, 30_000)

  it('should reload the token file in every worker on SIGHUP, and keep serving', async () => {
    const tokens = join(directory, 'reloaded-tokens')
    writeFileSync(tokens, 'old-token\n')
    const { supervisor, lines, pids, base } = await startWorkers({ RENDEZVOUS_CREATE_AUTH: tokens })
    try {
      const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
      expect(await createOnNewConnection(base, bearer('old-token'))).toBe(200)
      writeFileSync(tokens, 'new-token\n')
      supervisor.kill('SIGHUP')
      await lines.until((all) => all.filter((l) => l['msg'] === 'reloaded the create-auth token file').length >= 2)
      // Fresh connections reach both workers: every one of them knows only the new token.
      const renewed = await Promise.all(Array.from({ length: 10 }, () => createOnNewConnection(base, bearer('new-token'))))
      expect(renewed).toEqual(renewed.map(() => 200))
      const retired = await Promise.all(Array.from({ length: 10 }, () => createOnNewConnection(base, bearer('old-token'))))
      expect(retired).toEqual(retired.map(() => 401))
      expect(pids.every(alive)).toBe(true)
      // A file that cannot be read keeps the tokens read before.
      rmSync(tokens)
      supervisor.kill('SIGHUP')
      await lines.until((all) => all.filter((l) => l['msg'] === 'reload failed; keeping the tokens read before').length >= 2)
      expect(await createOnNewConnection(base, bearer('new-token'))).toBe(200)
    } finally {
      supervisor.kill('SIGKILL')
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    }
  }, 30_000)

  it('should give up and exit non-zero when workers keep crashing', async () => {
    const tokens = join(directory, 'vanishing-tokens')
    writeFileSync(tokens, 'a-token\n')
    const { supervisor, lines, pids } = await startWorkers({ RENDEZVOUS_CREATE_AUTH: tokens })
    try {
      // Every restarted worker now fails its start (exit 2): a crash loop.
      rmSync(tokens)
      process.kill(pids[0]!, 'SIGKILL')
      const code = await Promise.race([supervisor.exited, Bun.sleep(20_000).then(() => 'still running')])
      expect(code).toBe(1)
      const all = await lines.until((all) => all.some((l) => l['msg'] === 'workers keep exiting; giving up'))
      expect(all.filter((l) => l['msg'] === 'worker exited; restarting').length).toBe(5)
      expect(await waitUntil(() => pids.every((pid) => !alive(pid)), 5000)).toBe(true)
    } finally {
      supervisor.kill('SIGKILL')
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    }
  }, 30_000)
})

describe('a single process', () => {
  it('should reload its token file on SIGHUP', async () => {
    const tokens = join(directory, 'single-tokens')
    writeFileSync(tokens, 'old-token\n')
    const child = spawnMain(['--host', '127.0.0.1', '--port', '0', '--shutdown-drain', '0'], {
      RENDEZVOUS_CREATE_AUTH: tokens,
      RENDEZVOUS_CREATE_RATE_LIMIT: 'off',
    })
    try {
      const lines = logLines(child.stderr)
      const base = (await lines.until((all) => all.some((l) => l['msg'] === 'listening'))).find((l) => l['msg'] === 'listening')!['url'] as string
      writeFileSync(tokens, 'new-token\n')
      child.kill('SIGHUP')
      await lines.until((all) => all.some((l) => l['msg'] === 'reloaded the create-auth token file'))
      expect(await createOnNewConnection(base, { authorization: 'Bearer new-token' })).toBe(200)
      expect(await createOnNewConnection(base, { authorization: 'Bearer old-token' })).toBe(401)
      child.kill('SIGTERM')
      expect(await child.exited).toBe(0)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
