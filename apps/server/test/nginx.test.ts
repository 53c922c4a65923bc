/**
 * The server behind Debian's nginx with gzip on and default proxy buffering: ETags must survive
 * (weakened or not), the MSC4108 client must complete its exchange, and a long-poll must be
 * answered when the write lands, not when the proxy's buffers fill or the wait runs out.
 */

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '@rendezvous/store/testing/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestServer, create, sleep, startServer } from './harness.ts'
import { runMsc4108Exchange } from './msc4108-exchange.ts'

const NGINX = Bun.which('nginx') ?? (Bun.file('/usr/sbin/nginx').size > 0 ? '/usr/sbin/nginx' : null)
if (!NGINX) {
  console.warn('\n*** SKIPPED: nginx tests. No nginx on this machine (apt-get install nginx; .ci/run installs it). ***\n')
}

describe.skipIf(!NGINX)('behind nginx with gzip on and default proxy buffering', () => {
  let server: TestServer
  let nginx: Bun.Subprocess | undefined
  let proxy = ''

  beforeAll(async () => {
    server = await startServer({ RENDEZVOUS_MAX_WAIT_SECONDS: '10' })
    const dir = mkdtempSync(join(tmpdir(), 'rz-nginx-'))
    const port = await freePort()
    const conf = join(dir, 'nginx.conf')
    writeFileSync(
      conf,
      `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  gzip on;
  gzip_min_length 1;
  gzip_proxied any;
  gzip_types text/plain application/json application/octet-stream;
  upstream rendezvous { server 127.0.0.1:${server.port}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://rendezvous;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_read_timeout 60s;
    }
  }
}
`,
    )
    nginx = Bun.spawn([NGINX!, '-c', conf, '-p', dir, '-e', `${dir}/error.log`], { stdout: 'ignore', stderr: 'inherit' })
    proxy = `http://127.0.0.1:${port}/`
    for (let i = 0; i < 100; i++) {
      try {
        if ((await fetch(`${proxy}health`)).ok) return
      } catch {
        // not up yet
      }
      await sleep(50)
    }
    throw new Error('nginx did not start')
  })

  afterAll(async () => {
    nginx?.kill('SIGTERM')
    await nginx?.exited
    await server.close()
  })

  it('should pass ETags through compression so that conditional requests still match', async () => {
    const { id } = await create({ base: proxy }, 'x'.repeat(500), 'text/plain')
    const read = await fetch(`${proxy}${id}`, { headers: { 'accept-encoding': 'gzip' } })
    expect(await read.text()).toBe('x'.repeat(500))
    const etag = read.headers.get('etag')!
    expect(etag).toMatch(/^(W\/)?"/)
    // Whatever nginx did to the tag, sending it back still means "unchanged".
    expect((await fetch(`${proxy}${id}`, { headers: { 'if-none-match': etag } })).status).toBe(304)
    expect((await fetch(`${proxy}${id}`, { method: 'PUT', body: 'y', headers: { 'if-match': etag } })).status).toBe(202)
  })

  it('should carry a full MSC4108 exchange of matrix-js-sdk 37.5.0', async () => {
    const url = await runMsc4108Exchange({ fallbackRzServer: proxy })
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/[A-Za-z0-9_-]{22}$/)
  }, 30_000)

  it('should deliver a long-poll answer when the write lands, not when the wait runs out', async () => {
    const { id, etag } = await create({ base: proxy }, 'before')
    const started = Date.now()
    const waiting = fetch(`${proxy}${id}`, { headers: { 'if-none-match': etag, prefer: 'wait=10' } })
    await sleep(300)
    expect((await fetch(`${proxy}${id}`, { method: 'PUT', body: 'after' })).status).toBe(202)
    const response = await waiting
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('after')
    expect(response.headers.get('preference-applied')).toBe('wait=10')
    expect(Date.now() - started).toBeLessThan(3000)
  })
})
