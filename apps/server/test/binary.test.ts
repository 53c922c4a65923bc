/**
 * The single executable (`npm run build`): built here with `bun build --compile`, it serves with
 * the same flags, answers --help, carries the demo's files inside it, completes a handshake and
 * runs the doctor as a subcommand. The systemd unit in deploy/ is verified against it when
 * systemd-analyze is there.
 */

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freeMetricsListen, listeningUrl } from './process.ts'

const ROOT = resolve(import.meta.dirname, '../../..')
const SYSTEMD_ANALYZE = Bun.which('systemd-analyze')
if (!SYSTEMD_ANALYZE) console.warn('\n*** SKIPPED: verifying deploy/rendezvous.service. No systemd-analyze on this machine (apt-get install systemd). ***\n')

let binary: string
let dir: string
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rz-binary-'))
  binary = join(dir, 'rendezvous')
  // The same command as `npm run build`, into a scratch directory.
  const build = Bun.spawn([process.execPath, 'build', '--compile', '--minify', 'apps/server/src/main.ts', '--outfile', binary], {
    cwd: ROOT,
    stdout: 'pipe',
    stderr: 'pipe',
  })
  if ((await build.exited) !== 0) throw new Error(`bun build --compile failed: ${await new Response(build.stderr).text()}`)
}, 120_000)

describe('the single executable', () => {
  let child: Bun.Subprocess<'ignore', 'pipe', 'pipe'> | undefined
  let base = ''
  let metrics: Awaited<ReturnType<typeof freeMetricsListen>>
  beforeAll(async () => {
    // Started away from the source tree: it needs nothing but itself.
    metrics = await freeMetricsListen()
    child = Bun.spawn(
      [
        binary,
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--max-wait',
        '3',
        '--demo',
        'on',
        '--shutdown-drain',
        '0',
        '--metrics-listen',
        metrics.RENDEZVOUS_METRICS_LISTEN,
      ],
      {
        cwd: dir,
        stdin: 'ignore',
        stdout: 'pipe',
        stderr: 'pipe',
      },
    )
    base = await listeningUrl(child.stderr)
  })

  it('should serve its metrics on the metrics listener only', async () => {
    await fetch(`${base}_rendezvous/info`)
    const text = await (await fetch(metrics.url)).text()
    expect(text).toMatch(/^rendezvous_build_info\{version="[^"]+",bun_version="[^"]+",store="memory"\} 1$/m)
    expect(text).toContain('rendezvous_http_requests_total{method="GET",route="/_rendezvous/info",status="200"} 1')
    expect((await fetch(`${base}metrics`)).status).toBe(404)
  })
  afterAll(async () => {
    child?.kill('SIGTERM')
    await child?.exited
  })

  it('should print the same --help as the server run from source', async () => {
    const help = Bun.spawn([binary, '--help'], { stdout: 'pipe' })
    const text = await new Response(help.stdout).text()
    expect(await help.exited).toBe(0)
    for (const flag of ['--port', '--store', '--workers', '--shutdown-drain', '--create-auth']) expect(text).toContain(flag)
    expect(text).toContain('rendezvous doctor')
  })

  it('should complete a handshake, a long-poll woken by the write included', async () => {
    const created = await fetch(base, { method: 'POST', body: 'from A', headers: { 'content-type': 'text/plain' } })
    expect(created.status).toBe(200)
    const { id, url } = (await created.json()) as { id: string; url: string }
    const etag = created.headers.get('etag')!
    const read = await fetch(url)
    expect(await read.text()).toBe('from A')
    const waiting = fetch(url, { headers: { 'if-none-match': etag, prefer: 'wait=3' } })
    await Bun.sleep(100)
    const written = await fetch(url, { method: 'PUT', body: 'from B', headers: { 'if-match': etag, 'content-type': 'text/plain' } })
    expect(written.status).toBe(202)
    const woken = await waiting
    expect(woken.status).toBe(200)
    expect(await woken.text()).toBe('from B')
    expect((await fetch(`${base}${id}`, { method: 'DELETE' })).status).toBe(204)
  })

  it('should serve the demo from the files it carries', async () => {
    const page = await fetch(`${base}demo`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('rendezvous demo')
    const script = await fetch(`${base}demo/demo.js`)
    expect(await script.text()).toContain('fetch(')
  })

  it('should run the doctor as a subcommand, against itself', async () => {
    const doctor = Bun.spawn([binary, 'doctor', base, '--quick', '--json'], { stdout: 'pipe', stderr: 'pipe' })
    const output = await new Response(doctor.stdout).text()
    expect(await doctor.exited).toBe(0)
    const report = JSON.parse(output) as { failed: number; passed: number }
    expect(report.failed).toBe(0)
    expect(report.passed).toBeGreaterThan(10)
  }, 30_000)
})

describe.skipIf(!SYSTEMD_ANALYZE)('deploy/rendezvous.service', () => {
  it('should pass systemd-analyze verify with the binary in place', async () => {
    const unit = join(dir, 'rendezvous.service')
    writeFileSync(unit, readFileSync(join(ROOT, 'deploy/rendezvous.service'), 'utf8').replace('ExecStart=/usr/local/bin/rendezvous', `ExecStart=${binary}`))
    const verify = Bun.spawn([SYSTEMD_ANALYZE!, 'verify', unit], { stdout: 'pipe', stderr: 'pipe' })
    const [out, err] = await Promise.all([new Response(verify.stdout).text(), new Response(verify.stderr).text()])
    expect(await verify.exited, `${out}${err}`).toBe(0)
    expect(`${out}${err}`.trim()).toBe('')
  })
})
