/**
 * The proxy recipes in deploy/ as shipped (nginx, Caddy, HAProxy), each started in front of a real
 * server: the doctor must find nothing wrong through any of them. Then the classic mistakes, each
 * applied to the nginx recipe: the doctor must name each one.
 */

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { freePort } from '@rendezvous/store/testing/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CheckResult, runChecks } from '../src/doctor/checks.ts'
import { type TestServer, sleep, startServer } from './harness.ts'

const DEPLOY = resolve(import.meta.dirname, '../../../deploy')
const binary = (name: string, paths: string[]) => Bun.which(name) ?? paths.find((p) => Bun.file(p).size > 0) ?? null
const NGINX = binary('nginx', ['/usr/sbin/nginx'])
const CADDY = binary('caddy', ['/usr/bin/caddy'])
const HAPROXY = binary('haproxy', ['/usr/sbin/haproxy'])
const OPENSSL = binary('openssl', ['/usr/bin/openssl'])
for (const [name, path, why] of [
  ['nginx', NGINX, 'the nginx recipe and the mistakes applied to it'],
  ['caddy', CADDY, 'the Caddy recipe'],
  ['haproxy', HAPROXY, 'the HAProxy recipe'],
  ['openssl', OPENSSL, 'the TLS recipes (nginx, HAProxy)'],
] as const) {
  if (!path) console.warn(`\n*** SKIPPED: ${why}. No ${name} on this machine (apt-get install ${name}; .ci/run installs it). ***\n`)
}

/** The server's longest long-poll wait in these tests; each proxy's read timeout is far above it. */
const MAX_WAIT = 3

let server: TestServer
let dir: string
beforeAll(async () => {
  server = await startServer({ RENDEZVOUS_TRUST_PROXY: '127.0.0.1', RENDEZVOUS_MAX_WAIT_SECONDS: String(MAX_WAIT) })
  dir = mkdtempSync(join(tmpdir(), 'rz-proxies-'))
  if (OPENSSL) {
    execFileSync(
      OPENSSL,
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    )
    writeFileSync(join(dir, 'haproxy.pem'), readFileSync(join(dir, 'cert.pem'), 'utf8') + readFileSync(join(dir, 'key.pem'), 'utf8'))
  }
})
afterAll(() => server?.close())

interface Proxy {
  readonly url: string
  stop(): Promise<void>
}

/** Starts `command` and waits until `url` answers /health through it. */
async function startProxy(command: string[], url: string, env: Record<string, string> = {}): Promise<Proxy> {
  const child = Bun.spawn(command, { stdout: 'ignore', stderr: 'pipe', env: { ...process.env, ...env } })
  const stop = async () => {
    child.kill('SIGTERM')
    await child.exited
  }
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${command[0]} exited: ${await new Response(child.stderr).text()}`)
    try {
      const response = await fetch(`${url}health`, { tls: { rejectUnauthorized: false } } as RequestInit)
      if (response.ok) return { url, stop }
    } catch {
      // not up yet
    }
    await sleep(50)
  }
  await stop()
  throw new Error(`${command[0]} did not start`)
}

/** The nginx recipe, with `mistake` applied to it, on a free port with TLS. */
async function startNginx(mistake: (conf: string) => string = (conf) => conf): Promise<Proxy> {
  const port = await freePort()
  const name = `nginx-${port}`
  let snippet = readFileSync(join(DEPLOY, 'nginx.conf'), 'utf8')
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${server.port};`)
    .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
    .replace('/etc/ssl/rendezvous/fullchain.pem', join(dir, 'cert.pem'))
    .replace('/etc/ssl/rendezvous/privkey.pem', join(dir, 'key.pem'))
  snippet = mistake(snippet)
  writeFileSync(join(dir, `${name}.snippet`), snippet)
  const conf = join(dir, `${name}.conf`)
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/${name}-body;
  proxy_temp_path ${dir}/${name}-proxy;
  fastcgi_temp_path ${dir}/${name}-fastcgi;
  uwsgi_temp_path ${dir}/${name}-uwsgi;
  scgi_temp_path ${dir}/${name}-scgi;
  include ${dir}/${name}.snippet;
}
`,
  )
  return startProxy([NGINX!, '-c', conf, '-p', dir, '-e', `${dir}/${name}.log`], `https://127.0.0.1:${port}/`)
}

/** Spellings of /metrics that proxies and servers have been known to treat differently. */
const METRICS_SPELLINGS = [
  'metrics',
  'metrics/',
  './metrics',
  'x/../metrics',
  '%2e%2e/metrics',
  '%2E%2E/metrics',
  'METRICS',
  'metrics?x=1',
  '/metrics',
  'metrics%2f',
]

/**
 * Runs the doctor through `proxy`, and asks it for /metrics in every spelling (the server serves
 * metrics only on its own listener, so nothing may come back), then stops the proxy.
 */
async function doctorThrough(proxy: Proxy, quick = true): Promise<CheckResult[]> {
  try {
    const results = await runChecks({ url: proxy.url, insecure: true, fullWait: !quick })
    for (const spelling of METRICS_SPELLINGS) {
      const answer = await fetch(`${proxy.url}${spelling}`, { tls: { rejectUnauthorized: false } } as RequestInit)
      const text = await answer.text()
      expect(answer.status, spelling).not.toBe(200)
      expect(text, spelling).not.toContain('rendezvous_http_requests_total')
    }
    return results
  } finally {
    await proxy.stop()
  }
}

function failures(results: readonly CheckResult[]): string[] {
  return results.filter((r) => r.status === 'fail').map((r) => `${r.id}: ${r.mistake ?? '-'}: ${r.detail}`)
}

describe('the shipped proxy recipes, checked by the doctor', () => {
  it.skipIf(!NGINX || !OPENSSL)(
    'should find nothing wrong through deploy/nginx.conf',
    async () => {
      const results = await doctorThrough(await startNginx(), false)
      expect(failures(results)).toEqual([])
      expect(results.filter((r) => r.status === 'skip')).toEqual([])
    },
    30_000,
  )

  it.skipIf(!CADDY)(
    'should find nothing wrong through deploy/Caddyfile',
    async () => {
      const port = await freePort()
      const caddyfile = join(dir, `Caddyfile-${port}`)
      const recipe = readFileSync(join(DEPLOY, 'Caddyfile'), 'utf8')
        .replace('rendezvous.example.org {', `http://127.0.0.1:${port} {`)
        .replace('reverse_proxy 127.0.0.1:8080', `reverse_proxy 127.0.0.1:${server.port}`)
      writeFileSync(caddyfile, `{\n\tadmin off\n\tauto_https off\n}\n\n${recipe}`)
      const home = join(dir, `caddy-${port}`)
      const proxy = await startProxy([CADDY!, 'run', '--config', caddyfile, '--adapter', 'caddyfile'], `http://127.0.0.1:${port}/`, {
        HOME: home,
        XDG_DATA_HOME: home,
        XDG_CONFIG_HOME: home,
      })
      expect(failures(await doctorThrough(proxy, false))).toEqual([])
    },
    30_000,
  )

  it.skipIf(!HAPROXY || !OPENSSL)(
    'should find nothing wrong through deploy/haproxy.cfg',
    async () => {
      const port = await freePort()
      const cfg = join(dir, `haproxy-${port}.cfg`)
      writeFileSync(
        cfg,
        readFileSync(join(DEPLOY, 'haproxy.cfg'), 'utf8')
          .replace('bind :443 ssl crt /etc/haproxy/certs/rendezvous.pem', `bind 127.0.0.1:${port} ssl crt ${join(dir, 'haproxy.pem')}`)
          .replace('server rendezvous1 127.0.0.1:8080 check', `server rendezvous1 127.0.0.1:${server.port} check`),
      )
      const proxy = await startProxy([HAPROXY!, '-f', cfg, '-db'], `https://127.0.0.1:${port}/`)
      expect(failures(await doctorThrough(proxy, false))).toEqual([])
    },
    30_000,
  )
})

describe.skipIf(!NGINX || !OPENSSL)('classic nginx mistakes, named by the doctor', () => {
  const mistakeFound = async (apply: (conf: string) => string, quick = true) => doctorThrough(await startNginx(apply), quick)
  const named = (results: readonly CheckResult[]) => new Set(results.filter((r) => r.status === 'fail').map((r) => r.mistake))

  it('should name compression when gzip is on', async () => {
    const results = await mistakeFound((conf) => conf.replace('gzip off;', 'gzip on; gzip_min_length 1; gzip_proxied any; gzip_types *;'))
    expect(named(results)).toContain('compression')
  }, 30_000)

  it('should name a read timeout below the long-poll wait', async () => {
    const results = await mistakeFound((conf) => conf.replace('proxy_read_timeout 75s;', `proxy_read_timeout ${MAX_WAIT - 2}s;`), false)
    expect(named(results)).toContain('read-timeout')
  }, 30_000)

  it('should name a Host header that is not forwarded', async () => {
    const results = await mistakeFound((conf) =>
      conf.replace('proxy_set_header Host $http_host;', '').replace('proxy_set_header X-Forwarded-Host $http_host;', ''),
    )
    expect(named(results)).toContain('host-not-forwarded')
  }, 30_000)

  it('should name an X-Forwarded-Proto that is not forwarded', async () => {
    const results = await mistakeFound((conf) => conf.replace('proxy_set_header X-Forwarded-Proto $scheme;', ''))
    expect(named(results)).toContain('proto-not-forwarded')
  }, 30_000)

  it('should name CORS preflights answered by the proxy', async () => {
    const results = await mistakeFound((conf) =>
      conf.replace(
        'proxy_pass http://rendezvous;',
        `if ($request_method = OPTIONS) {
            add_header Access-Control-Allow-Origin "*";
            add_header Access-Control-Allow-Methods "GET, POST, OPTIONS";
            add_header Access-Control-Allow-Headers "Content-Type";
            return 204;
        }
        proxy_pass http://rendezvous;`,
      ),
    )
    expect(named(results)).toContain('cors-by-proxy')
  }, 30_000)

  it('should name buffering when proxy_buffering is on', async () => {
    const results = await mistakeFound((conf) => conf.replace('proxy_buffering off;', 'proxy_buffering on;'))
    expect(named(results)).toContain('buffering')
  }, 30_000)
})
