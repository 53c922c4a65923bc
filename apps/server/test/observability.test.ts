/**
 * What ships for Prometheus and Grafana, checked with the real tools: the alert rules load and pass
 * their unit tests (`promtool test rules`), and a real Prometheus scraping a real two-worker server
 * under a short login load answers every dashboard panel's query, its variables and its deploy
 * annotation with data.
 */

import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { freePort, startTestRedis } from '@rendezvous/store/testing/redis'
import { afterAll, describe, expect, it } from 'vitest'
import { sleep } from './harness.ts'
import { freeMetricsListen, logLines, spawnMain } from './process.ts'

const DEPLOY = resolve(import.meta.dirname, '../../../deploy')
const found = (paths: string[]) => paths.find((path) => spawnSync(path, ['--version'], { stdio: 'ignore' }).status === 0) ?? null
const PROMTOOL = found(['/usr/bin/promtool', '/usr/local/bin/promtool'])
const PROMETHEUS = found(['/usr/bin/prometheus', '/usr/local/bin/prometheus'])
if (!PROMTOOL)
  console.warn('\n*** SKIPPED: promtool checks and unit tests of deploy/prometheus. No promtool (apt-get install prometheus; .ci/run installs it). ***\n')
if (!PROMETHEUS)
  console.warn('\n*** SKIPPED: the Grafana dashboard against a real Prometheus. No prometheus (apt-get install prometheus; .ci/run installs it). ***\n')

const redis = await startTestRedis('the Grafana dashboard against a real Prometheus (two workers on Redis)')
afterAll(() => redis?.close())

interface Target {
  readonly expr: string
}
interface Panel {
  readonly type: string
  readonly title: string
  readonly datasource?: { readonly uid: string }
  readonly targets?: readonly Target[]
}
interface Dashboard {
  readonly __inputs: readonly { readonly name: string; readonly type: string; readonly pluginId: string }[]
  readonly templating: { readonly list: readonly { readonly name: string; readonly query: { readonly query: string } }[] }
  readonly annotations: { readonly list: readonly { readonly name: string; readonly expr?: string }[] }
  readonly panels: readonly Panel[]
}

const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/rendezvous.json'), 'utf8')) as Dashboard
const queryPanels = dashboard.panels.filter((panel) => panel.type !== 'row')

/** A panel's query as Grafana sends it for job "rendezvous", all instances, a 5 s rate window. */
const asSent = (expr: string) => expr.replaceAll('$job', 'rendezvous').replaceAll('$instance', '.+').replaceAll('$__rate_interval', '5s')

describe.skipIf(!PROMTOOL)('deploy/prometheus', () => {
  it('should load the alert rules and pass their unit tests', () => {
    const check = spawnSync(PROMTOOL!, ['check', 'rules', 'rendezvous-alerts.yml'], { cwd: join(DEPLOY, 'prometheus'), encoding: 'utf8' })
    expect(check.stdout + check.stderr).toContain('SUCCESS')
    expect(check.status).toBe(0)
    const test = spawnSync(PROMTOOL!, ['test', 'rules', 'rendezvous-alerts.test.yml'], { cwd: join(DEPLOY, 'prometheus'), encoding: 'utf8' })
    expect(test.stdout + test.stderr).toContain('SUCCESS')
    expect(test.status).toBe(0)
  })
})

describe('deploy/grafana/rendezvous.json', () => {
  it('should take its Prometheus as an input and offer job and instance variables', () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })])
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['job', 'instance'])
    for (const panel of queryPanels) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's input placeholder, taken literally
      expect(panel.datasource?.uid, panel.title).toBe('${DS_PROMETHEUS}')
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0)
      for (const target of panel.targets!) expect(target.expr, panel.title).toContain('instance=~"$instance"')
    }
    const annotations = dashboard.annotations.list.filter((a) => a.expr).map((a) => a.expr!)
    expect(annotations.some((expr) => expr.includes('process_start_time_seconds'))).toBe(true)
    expect(annotations.some((expr) => expr.includes('rendezvous_build_info'))).toBe(true)
  })

  it.skipIf(!PROMETHEUS || !redis)(
    'should answer every panel, variable and deploy annotation with data from a real Prometheus scraping two workers',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rz-prometheus-'))
      const { url: metricsUrl, RENDEZVOUS_METRICS_LISTEN } = await freeMetricsListen()
      const prometheusPort = String(await freePort())
      const apiPort = String(await freePort())
      const prefix = redis!.uniquePrefix()
      const startGroup = async () => {
        const child = spawnMain(
          [
            '--host',
            '127.0.0.1',
            '--port',
            apiPort,
            '--shutdown-drain',
            '0',
            '--rate-limit',
            'off',
            '--create-rate-limit',
            'off',
            '--max-in-flight-per-client',
            'off',
            '--max-wait',
            '2',
            '--ttl',
            '2',
          ],
          {
            RENDEZVOUS_STORE: redis!.url,
            RENDEZVOUS_REDIS_PREFIX: prefix,
            RENDEZVOUS_WORKERS: '2',
            RENDEZVOUS_METRICS_LISTEN,
          },
        )
        const log = logLines(child.stderr)
        try {
          await log.until((all) => all.filter((l) => l['msg'] === 'listening').length === 2)
        } catch (error) {
          child.kill('SIGKILL')
          throw error
        }
        for (let i = 0; i < 300 && (await fetch(`http://127.0.0.1:${apiPort}/ready`).catch(() => null))?.status !== 200; i++) await sleep(10)
        return child
      }
      writeFileSync(
        join(dir, 'prometheus.yml'),
        `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${join(DEPLOY, 'prometheus/rendezvous-alerts.yml')}\nscrape_configs:\n  - job_name: rendezvous\n    static_configs:\n      - targets: ['${new URL(metricsUrl).host}']\n`,
      )
      const prometheus = Bun.spawn(
        [
          PROMETHEUS!,
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${prometheusPort}`,
          '--log.level=warn',
        ],
        { stdout: 'ignore', stderr: 'pipe' },
      )
      let group: Awaited<ReturnType<typeof startGroup>> | null = null
      try {
        group = await startGroup()
        const api = `http://127.0.0.1:${prometheusPort}/api/v1`
        for (let i = 0; i < 300 && (await fetch(`http://127.0.0.1:${prometheusPort}/-/ready`).catch(() => null))?.status !== 200; i++) await sleep(50)
        const base = `http://127.0.0.1:${apiPort}/`
        /** Logins as devices do them: create, a long-poll woken by the answer, a read, some cancelled, some left to expire. */
        const logins = async (seconds: number) => {
          const until = performance.now() + seconds * 1000
          for (let n = 0; performance.now() < until; n++) {
            const created = await fetch(base, { method: 'POST', body: 'from A', headers: { connection: 'close' } })
            if (created.status !== 200) continue
            const { id } = (await created.json()) as { id: string }
            const etag = created.headers.get('etag')!
            if (n % 5 === 4) continue // nobody scans this one
            const waiting = fetch(`${base}${id}`, { headers: { 'if-none-match': etag, prefer: 'wait=2', connection: 'close' } })
            await sleep(20)
            await (await fetch(`${base}${id}`, { method: 'PUT', body: 'from B', headers: { connection: 'close' } })).arrayBuffer()
            await (await waiting).arrayBuffer()
            if (n % 3 === 0) await (await fetch(`${base}${id}`, { method: 'DELETE', headers: { connection: 'close' } })).arrayBuffer()
          }
        }
        await logins(6)
        // A deploy: the whole group restarts, so its start time moves.
        group.kill('SIGTERM')
        await group.exited
        await sleep(1500)
        group = await startGroup()
        await logins(6)
        await sleep(2500)

        const query = async (expr: string) => {
          const answer = (await (await fetch(`${api}/query?query=${encodeURIComponent(asSent(expr))}`)).json()) as {
            status: string
            error?: string
            data: { result: unknown[] }
          }
          expect(answer.status, `${expr}: ${answer.error ?? ''}`).toBe('success')
          return answer.data.result
        }
        for (const panel of queryPanels) {
          for (const target of panel.targets!) expect((await query(target.expr)).length, `${panel.title}: ${target.expr}`).toBeGreaterThan(0)
        }
        // The annotations look back over the run: the restart and the version first seen.
        const range = async (expr: string) => {
          const end = Date.now() / 1000
          const answer = (await (await fetch(`${api}/query_range?query=${encodeURIComponent(asSent(expr))}&start=${end - 60}&end=${end}&step=1`)).json()) as {
            status: string
            data: { result: unknown[] }
          }
          expect(answer.status, expr).toBe('success')
          return answer.data.result
        }
        for (const annotation of dashboard.annotations.list.filter((a) => a.expr))
          expect((await range(annotation.expr!)).length, annotation.name).toBeGreaterThan(0)
        for (const variable of dashboard.templating.list) {
          const match = /^label_values\((.+), (\w+)\)$/.exec(variable.query.query)!
          const answer = (await (await fetch(`${api}/label/${match[2]}/values?match[]=${encodeURIComponent(asSent(match[1]!))}`)).json()) as { data: string[] }
          expect(answer.data.length, variable.name).toBeGreaterThan(0)
        }
        // The shipped alert rules evaluate against the real series without error.
        const rules = (await (await fetch(`${api}/rules`)).json()) as { data: { groups: { rules: { health: string }[] }[] } }
        expect(rules.data.groups[0]!.rules.every((rule) => rule.health === 'ok')).toBe(true)
      } finally {
        group?.kill('SIGKILL')
        prometheus.kill('SIGTERM')
        await prometheus.exited
        rmSync(dir, { recursive: true, force: true })
      }
    },
    90_000,
  )
})
