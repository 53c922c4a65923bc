/**
 * Metrics as operators scrape them: on a listener of their own (never on the public port, in any
 * spelling), clean by `promtool check metrics`, counting outcomes (created, deleted, expired,
 * long-polls and how they ended), and, with two workers, one scrape answering for the whole group:
 * counters summed, never going backwards, equal to the requests sent, through a worker's death.
 */

import { spawnSync } from 'node:child_process'
import { startTestRedis } from '@rendezvous/store/testing/redis'
import { afterAll, describe, expect, it } from 'vitest'
import { create, rawRequest, sleep, startServer } from './harness.ts'
import { freeMetricsListen, listeningUrl, logLines, spawnMain } from './process.ts'

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((path) => spawnSync(path, ['--version'], { stdio: 'ignore' }).status === 0) ?? null
if (!PROMTOOL) console.warn('\n*** SKIPPED: promtool checks of a live scrape. No promtool (apt-get install prometheus; .ci/run installs it). ***\n')

const redis = await startTestRedis('metrics of two workers on one Redis')
afterAll(() => redis?.close())

/** Every sample of a scrape, by its full name and labels. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    found.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return found
}

/** The sum of a family's samples whose labels include every `labels` pair. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const [key, value] of samples(text)) {
    const [sampleName] = key.split('{')
    if (sampleName !== name) continue
    if (Object.entries(labels).every(([label, want]) => key.includes(`${label}="${want}"`))) sum += value
  }
  return sum
}

/** The names of the counter families of a scrape (histograms' series included). */
function cumulativeSeries(text: string): Set<string> {
  const cumulative = new Set<string>()
  for (const line of text.split('\n')) {
    const match = /^# TYPE (\S+) (counter|histogram)$/.exec(line)
    if (match) cumulative.add(match[1]!)
  }
  return cumulative
}

describe('the metrics listener', () => {
  it('should serve /metrics on its own address and nowhere on the public port, in any spelling', async () => {
    const { url: metricsUrl, ...metricsListen } = await freeMetricsListen()
    const child = spawnMain(['--host', '127.0.0.1', '--port', '0', '--shutdown-drain', '0'], metricsListen)
    try {
      const base = await listeningUrl(child.stderr)
      const port = Number(new URL(base).port)
      await create({ base })
      const scrape = await fetch(metricsUrl)
      expect(scrape.status).toBe(200)
      expect(scrape.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
      const text = await scrape.text()
      expect(total(text, 'rendezvous_created_total', { dialect: 'seed' })).toBe(1)
      expect((await fetch(metricsUrl.replace('/metrics', '/health'))).status).toBe(200)
      for (const path of [
        '/metrics',
        '/metrics/',
        '/./metrics',
        '/x/../metrics',
        '/%2e%2e/metrics',
        '/%2E%2E/metrics',
        '//metrics',
        '/METRICS',
        '/metrics?format=text',
        '/metrics%2f',
        '/_rendezvous/../metrics',
      ]) {
        const answer = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
        expect(answer.status, path).not.toBe(200)
        expect(answer.text, path).not.toContain('rendezvous_')
      }
    } finally {
      child.kill('SIGKILL')
    }
  }, 20_000)

  it('should refuse to start when the metrics address is taken, and start without one when it is off', async () => {
    const taken = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
    try {
      const child = spawnMain(['--host', '127.0.0.1', '--port', '0'], { RENDEZVOUS_METRICS_LISTEN: `127.0.0.1:${taken.port}` })
      const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()])
      expect(code).toBe(2)
      expect(stderr).toContain('RENDEZVOUS_METRICS_LISTEN')
    } finally {
      taken.stop(true)
    }
    const same = spawnMain(['--host', '127.0.0.1', '--port', '8089', '--metrics-listen', '0.0.0.0:8089'])
    expect(await same.exited).toBe(2)
  }, 20_000)

  it.skipIf(!PROMTOOL)(
    'should pass promtool check metrics on a live scrape with traffic on every route',
    async () => {
      const { url: metricsUrl, ...metricsListen } = await freeMetricsListen()
      const child = spawnMain(['--host', '127.0.0.1', '--port', '0', '--shutdown-drain', '0', '--max-wait', '1'], metricsListen)
      try {
        const base = await listeningUrl(child.stderr)
        const { id, etag } = await create({ base })
        await fetch(`${base}${id}`, { headers: { 'if-none-match': etag, prefer: 'wait=1' } })
        await fetch(`${base}${id}`, { method: 'PUT', body: 'x' })
        await fetch(`${base}${id}`, { method: 'DELETE' })
        await fetch(`${base}nope`)
        const text = await (await fetch(metricsUrl)).text()
        const check = spawnSync(PROMTOOL!, ['check', 'metrics'], { input: text, encoding: 'utf8' })
        expect(`${check.stdout}${check.stderr}`.trim()).toBe('')
        expect(check.status).toBe(0)
        for (const name of [
          'rendezvous_build_info',
          'process_start_time_seconds',
          'process_cpu_seconds_total',
          'process_open_fds',
          'process_max_fds',
          'process_resident_memory_bytes',
          'rendezvous_js_heap_used_bytes',
        ]) {
          expect(text, name).toMatch(new RegExp(`^${name}(\\{[^}]*\\})? \\d`, 'm'))
        }
        expect(text).not.toMatch(/^process_heap/m)
      } finally {
        child.kill('SIGKILL')
      }
    },
    20_000,
  )
})

describe('outcome counters', () => {
  it('should count rendezvous created by dialect, deleted, expired used and unused, and how long-polls ended', async () => {
    const server = await startServer({ RENDEZVOUS_TTL_SECONDS: '2', RENDEZVOUS_MAX_WAIT_SECONDS: '1' })
    try {
      const unanswered = await create(server, 'nobody scans this')
      const answered = await create(server, 'scanned')
      const cancelled = await create(server, 'cancelled')
      const woken = fetch(`${server.base}${answered.id}`, { headers: { 'if-none-match': answered.etag, prefer: 'wait=1' } })
      await sleep(100)
      expect((await fetch(`${server.base}${answered.id}`, { method: 'PUT', body: 'reply' })).status).toBe(202)
      expect((await woken).status).toBe(200)
      const timedOut = await fetch(`${server.base}${unanswered.id}`, { headers: { 'if-none-match': unanswered.etag, prefer: 'wait=1' } })
      expect(timedOut.status).toBe(304)
      expect((await fetch(`${server.base}${cancelled.id}`, { method: 'DELETE' })).status).toBe(204)
      expect(
        (
          await fetch(`http://127.0.0.1:${server.port}/_matrix/client/unstable/org.matrix.msc4108/rendezvous`, {
            method: 'POST',
            body: 'x',
            headers: { 'content-type': 'text/plain' },
          })
        ).status,
      ).toBe(201)
      await sleep(2300)
      const text = await server.metrics()
      expect(total(text, 'rendezvous_created_total', { dialect: 'seed' })).toBe(3)
      expect(total(text, 'rendezvous_created_total', { dialect: 'msc4108' })).toBe(1)
      expect(total(text, 'rendezvous_deleted_total')).toBe(1)
      expect(total(text, 'rendezvous_expired_total', { used: 'false' })).toBe(2)
      expect(total(text, 'rendezvous_expired_total', { used: 'true' })).toBe(1)
      expect(total(text, 'rendezvous_long_poll_wait_seconds_count', { outcome: 'woken' })).toBe(1)
      expect(total(text, 'rendezvous_long_poll_wait_seconds_count', { outcome: 'timeout' })).toBe(1)
      expect(total(text, 'rendezvous_long_poll_wait_seconds_sum', { outcome: 'timeout' })).toBeGreaterThan(0.9)
      // The held seconds are in the wait histogram, not in the handling time of the GETs.
      expect(total(text, 'rendezvous_http_request_duration_seconds_sum', { method: 'GET' })).toBeLessThan(0.5)
    } finally {
      await server.close()
    }
  }, 20_000)
})

describe.skipIf(!redis)('two workers, one scrape', () => {
  it('should sum both workers, never go backwards in 20 scrapes, equal the requests sent, and survive a worker killed', async () => {
    const { url: metricsUrl, ...metricsListen } = await freeMetricsListen()
    const child = spawnMain(
      ['--host', '127.0.0.1', '--port', '0', '--shutdown-drain', '0', '--rate-limit', 'off', '--create-rate-limit', 'off', '--max-in-flight-per-client', 'off'],
      {
        RENDEZVOUS_STORE: redis!.url,
        RENDEZVOUS_REDIS_PREFIX: redis!.uniquePrefix(),
        RENDEZVOUS_WORKERS: '2',
        ...metricsListen,
      },
    )
    const log = logLines(child.stderr)
    try {
      const lines = await log.until((all) => all.filter((l) => l['msg'] === 'listening').length === 2)
      const base = lines.find((l) => l['msg'] === 'listening')!['url'] as string
      for (let i = 0; i < 200 && (await fetch(`${base.replace(/\/$/, '')}/ready`)).status !== 200; i++) await sleep(10)
      let sent = 0
      // A new connection for each request, so the kernel spreads them over both workers.
      const send = async (path: string, init: RequestInit = {}) => {
        sent++
        const response = await fetch(`${base}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), connection: 'close' } })
        return { status: response.status, text: await response.text() }
      }
      const scrapes: string[] = []
      let killed = false
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 10; i++) {
          const created = await send('', { method: 'POST', body: `round ${round}` })
          expect(created.status).toBe(200)
          const { id } = JSON.parse(created.text) as { id: string }
          expect((await send(id)).status).toBe(200)
          expect((await send(id, { method: 'PUT', body: 'reply' })).status).toBe(202)
        }
        scrapes.push(await (await fetch(metricsUrl)).text())
        if (round === 10 && !killed) {
          // A worker dies; the supervisor replaces it, and keeps what it had counted.
          const workerPids = log.lines.filter((l) => l['msg'] === 'listening').map((l) => l['pid'] as number)
          process.kill(workerPids[0]!, 'SIGKILL')
          killed = true
          await log.until((all) => all.filter((l) => l['msg'] === 'listening').length === 3, 15_000)
          for (let i = 0; i < 200 && (await fetch(`${base.replace(/\/$/, '')}/ready`)).status !== 200; i++) await sleep(10)
        }
      }
      const served = new Set(log.lines.filter((l) => l['msg'] === 'request').map((l) => l['worker']))
      expect(served.size).toBeGreaterThanOrEqual(2)
      const last = scrapes.at(-1)!
      // Requests counted after the worker died are all there; what it counted before is kept from
      // the last scrape before its death, which took everything sent until then.
      expect(total(last, 'rendezvous_http_requests_total')).toBe(sent)
      expect(total(last, 'rendezvous_workers')).toBe(2)
      expect(total(last, 'rendezvous_worker_restarts_total')).toBe(1)
      const names = cumulativeSeries(last)
      for (let i = 1; i < scrapes.length; i++) {
        const before = samples(scrapes[i - 1]!)
        const after = samples(scrapes[i]!)
        for (const [key, value] of before) {
          const name = key.split('{')[0]!.replace(/_(bucket|sum|count)$/, '')
          if (!names.has(name) && !names.has(key.split('{')[0]!)) continue
          expect(after.get(key) ?? Number.NaN, `${key} in scrape ${i}`).toBeGreaterThanOrEqual(value)
        }
      }
    } finally {
      child.kill('SIGKILL')
      await sleep(200)
    }
  }, 60_000)
})
