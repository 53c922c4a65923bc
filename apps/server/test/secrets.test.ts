/**
 * Secrets stay secret: a password in the store URL is never printed, never sent in clear when the
 * URL asks for TLS (whatever the case of its scheme), can come from a file, and never reaches the
 * command lines of the workers, where `ps` would show it to every user.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { type Server, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { sleep } from './harness.ts'
import { spawnMain } from './process.ts'

const PASSWORD = 'hunter2-not-for-logs'
const directory = mkdtempSync(join(tmpdir(), 'rendezvous-secrets-'))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

/** A TCP listener that records the first bytes each connection sends: what a Redis would have seen. */
async function recordingListener(): Promise<{ port: number; received(): Buffer; close(): void; server: Server }> {
  const chunks: Buffer[] = []
  const server = createServer((socket) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    port: (server.address() as { port: number }).port,
    received: () => Buffer.concat(chunks),
    close: () => server.close(),
  }
}

async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate() && Date.now() < deadline) await sleep(20)
}

async function output(child: ReturnType<typeof spawnMain>): Promise<{ code: number; stderr: string }> {
  const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()])
  return { code, stderr }
}

describe('a password in RENDEZVOUS_STORE', () => {
  // A password pasted raw, with an `@` in it, is still all userinfo: URL parsers split at the last `@`.
  it.each([PASSWORD, 'hunter2@not-for-logs'])('should stay out of the one-line error a bad store URL gives (password %s)', async (password) => {
    const { code, stderr } = await output(spawnMain([], { RENDEZVOUS_STORE: `redis://:${password}@127.0.0.1:6379/db` }))
    expect(code).toBe(2)
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(stderr).toContain('RENDEZVOUS_STORE')
    expect(stderr).toContain('redis://:***@127.0.0.1')
    for (const part of password.split('@')) expect(stderr).not.toContain(part)
  })

  it.each(['REDISS', 'Rediss'])('should speak TLS for a %s:// URL and never send the password in clear', async (scheme) => {
    const listener = await recordingListener()
    const child = spawnMain(['--host', '127.0.0.1', '--port', '0'], { RENDEZVOUS_STORE: `${scheme}://:${PASSWORD}@127.0.0.1:${listener.port}` })
    try {
      await until(() => listener.received().length > 0)
      const seen = listener.received()
      // A TLS record of type handshake (0x16): a ClientHello, not a RESP command.
      expect(seen[0]).toBe(0x16)
      expect(seen.toString('latin1')).not.toContain(PASSWORD)
      expect(seen.toString('latin1').toUpperCase()).not.toContain('AUTH')
    } finally {
      child.kill('SIGKILL')
      listener.close()
    }
  })

  it('should be read from RENDEZVOUS_STORE_FILE, and refused beside RENDEZVOUS_STORE', async () => {
    const listener = await recordingListener()
    const file = join(directory, 'store-url')
    writeFileSync(file, `redis://:${PASSWORD}@127.0.0.1:${listener.port}\n`)
    const child = spawnMain(['--host', '127.0.0.1', '--port', '0'], { RENDEZVOUS_STORE_FILE: file })
    try {
      // Plain redis:// to a plaintext Redis: the password read from the file is what AUTH carries.
      await until(() => listener.received().toString('latin1').includes(PASSWORD))
      expect(listener.received().toString('latin1')).toContain(PASSWORD)
      expect(listener.received().toString('latin1')).not.toContain(`${PASSWORD}\n`)
    } finally {
      child.kill('SIGKILL')
      listener.close()
    }
    const both = await output(spawnMain([], { RENDEZVOUS_STORE_FILE: file, RENDEZVOUS_STORE: 'memory' }))
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('RENDEZVOUS_STORE and RENDEZVOUS_STORE_FILE both given')
    const missing = await output(spawnMain([], { RENDEZVOUS_STORE_FILE: join(directory, 'no-such-file') }))
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('RENDEZVOUS_STORE_FILE')
    expect(missing.stderr).toContain('ENOENT')
  })

  it('should reach no worker command line, and warn when given as a flag', async () => {
    const listener = await recordingListener()
    const url = `redis://:${PASSWORD}@127.0.0.1:${listener.port}`
    const child = spawnMain(['--host', '127.0.0.1', '--port', '0', '--workers', '2', '--store', url, '--shutdown-drain', '0', '--shutdown-grace', '1'])
    const pids = new Set<number>()
    let log = ''
    const reading = (async () => {
      const decoder = new TextDecoder()
      const reader = child.stderr.getReader()
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        log += decoder.decode(next.value, { stream: true })
        for (const match of log.matchAll(/"msg":"listening".*?"pid":(\d+)/g)) pids.add(Number(match[1]))
      }
    })()
    try {
      await until(() => pids.size === 2, 15_000)
      expect(pids.size).toBe(2)
      for (const pid of pids) {
        const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'latin1')
        expect(commandLine).not.toContain(PASSWORD)
        expect(commandLine).not.toContain('--store')
      }
      expect(log).toContain('--store carries a password, which every user of this machine can read in ps; use --store-file or RENDEZVOUS_STORE_FILE')
      expect(log).not.toContain(PASSWORD)
    } finally {
      child.kill('SIGTERM')
      await child.exited
      await reading
      listener.close()
    }
  }, 30_000)
})
