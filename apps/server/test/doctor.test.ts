/**
 * The doctor as an operator runs it: it talks only to the origins it was given, never follows the
 * server (or a proxy) to another host, and takes its token from a file or the environment, so the
 * token stays out of `ps`. A second local server stands for "somebody else's host" and counts every
 * request that reaches it.
 */

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { staticTokens } from '../src/create-auth.ts'
import { CHECKS, runChecks } from '../src/doctor/checks.ts'
import { type TestServer, startServer } from './harness.ts'
import { spawnMain } from './process.ts'

/** Somebody else's host: answers everything like a willing rendezvous server and counts. */
function elsewhere() {
  const seen: string[] = []
  const server = Bun.serve({
    hostname: '127.0.0.2',
    port: 0,
    fetch(request) {
      seen.push(`${request.method} ${new URL(request.url).pathname} ${request.headers.get('authorization') ?? ''}`)
      return new Response('part', { headers: { 'content-type': 'text/plain', etag: '"x.1"' } })
    },
  })
  return { url: `http://127.0.0.2:${server.port}/`, seen, stop: () => server.stop(true) }
}

describe("the doctor's checks", () => {
  it('should each have an id and title of their own, and all run, in order, against a healthy server', async () => {
    expect(new Set(CHECKS.map((c) => c.id)).size).toBe(CHECKS.length)
    expect(new Set(CHECKS.map((c) => c.title)).size).toBe(CHECKS.length)
    const server = await startServer({ RENDEZVOUS_MAX_WAIT_SECONDS: '2' })
    try {
      const results = await runChecks({ url: server.base, fullWait: true })
      // Only the Redis check does not apply to a memory store.
      expect(results.map((r) => r.id)).toEqual(CHECKS.map((c) => c.id).filter((id) => id !== 'store-eviction'))
      expect(results.filter((r) => r.status !== 'pass')).toEqual([])
    } finally {
      await server.close()
    }
  }, 30_000)
})

describe('the doctor stays on the origins it was given', () => {
  let other: ReturnType<typeof elsewhere>
  beforeAll(() => {
    other = elsewhere()
  })
  afterAll(() => other.stop())

  it('should report URLs returned on another host, send nothing there, and still clean up through the named origin', async () => {
    const server = await startServer({ RENDEZVOUS_PUBLIC_BASE_URL: other.url.replace(/\/$/, '') })
    try {
      const results = await runChecks({ url: server.base, fullWait: false })
      const byId = new Map(results.map((r) => [r.id, r]))
      for (const id of ['create-seed', 'create-msc3886', 'create-msc4108']) {
        expect(byId.get(id)?.status, id).toBe('fail')
        expect(byId.get(id)?.mistake, id).toBe('host-not-forwarded')
      }
      expect(other.seen).toEqual([])
      // The exchange went on through the named origin, by the returned URL's path, and left nothing behind.
      expect(byId.get('etags')?.status).toBe('pass')
      expect(byId.get('cleanup')).toMatchObject({ status: 'pass' })
      const info = (await (await fetch(`${server.base}_rendezvous/info`)).json()) as { version: string }
      expect(info.version).toBeTruthy()
      const metrics = await server.metrics()
      expect(metrics).toMatch(/^rendezvous_live 0$/m)
    } finally {
      await server.close()
    }
  }, 30_000)

  it('should report a redirect to another host as a failure and not follow it', async () => {
    const server = await startServer()
    // A front that passes everything to the server except the probe, which it sends elsewhere.
    const front = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      async fetch(request) {
        const url = new URL(request.url)
        if (url.pathname.endsWith('/_rendezvous/probe')) return Response.redirect(`${other.url}_rendezvous/probe`, 302)
        if (url.pathname.endsWith('/_rendezvous/info')) return new Response(null, { status: 307, headers: { location: `${other.url}_rendezvous/info` } })
        const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer()
        return fetch(`${server.origin}${url.pathname}${url.search}`, {
          method: request.method,
          headers: request.headers,
          body,
          redirect: 'manual',
          decompress: false,
        } as RequestInit)
      },
    })
    try {
      const results = await runChecks({ url: `http://127.0.0.1:${front.port}/`, fullWait: false })
      const byId = new Map(results.map((r) => [r.id, r]))
      expect(byId.get('unbuffered')).toMatchObject({ status: 'fail', mistake: 'not-routed' })
      expect(byId.get('unbuffered')?.detail).toContain('redirect')
      expect(byId.get('info')).toMatchObject({ status: 'fail' })
      expect(byId.get('info')?.detail).toContain('not followed')
      expect(other.seen).toEqual([])
    } finally {
      void front.stop(true)
      await server.close()
    }
  }, 30_000)
})

describe('the doctor takes its token without putting it in ps', () => {
  let server: TestServer
  let dir: string
  beforeAll(async () => {
    server = await startServer({}, undefined, staticTokens(new Set(['doctor-s3cret'])))
    dir = mkdtempSync(join(tmpdir(), 'rz-doctor-'))
  })
  afterAll(() => server?.close())

  async function doctor(args: string[], env: Record<string, string> = {}) {
    const child = spawnMain(['doctor', server.base, '--quick', '--json', ...args], env)
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
    const report = stdout.trim() ? (JSON.parse(stdout) as { checks: { id: string; status: string }[] }) : null
    const status = (id: string) => report?.checks.find((c) => c.id === id)?.status
    return { code, stderr, status }
  }

  it('should create with a token read from --token-file', async () => {
    const file = join(dir, 'token')
    writeFileSync(file, 'doctor-s3cret\n')
    const run = await doctor(['--token-file', file])
    expect(run.status('create-seed')).toBe('pass')
    expect(run.status('msc4388')).toBe('pass')
    expect(run.code).toBe(0)
    expect(run.stderr).toBe('')
  }, 30_000)

  it('should create with a token from RENDEZVOUS_DOCTOR_TOKEN', async () => {
    const run = await doctor([], { RENDEZVOUS_DOCTOR_TOKEN: 'doctor-s3cret' })
    expect(run.status('create-seed')).toBe('pass')
    expect(run.code).toBe(0)
  }, 30_000)

  it('should skip creation without a token, and warn when the token is on the command line', async () => {
    expect((await doctor([])).status('create-seed')).toBe('skip')
    const flagged = await doctor(['--token', 'doctor-s3cret'])
    expect(flagged.status('create-seed')).toBe('pass')
    expect(flagged.stderr).toContain('--token-file')
    expect(flagged.stderr).not.toContain('doctor-s3cret')
  }, 30_000)

  it('should refuse an unreadable or empty token file with exit 2', async () => {
    expect((await doctor(['--token-file', join(dir, 'missing')])).code).toBe(2)
    writeFileSync(join(dir, 'empty'), '\n')
    expect((await doctor(['--token-file', join(dir, 'empty')])).code).toBe(2)
  }, 30_000)
})
