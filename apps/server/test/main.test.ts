import { describe, expect, it } from 'vitest'
import { listeningUrl, spawnMain as spawnServer } from './process.ts'

describe('main', () => {
  it('should print every option for --help and exit 0', async () => {
    const child = spawnServer(['--help'])
    const out = await new Response(child.stdout).text()
    expect(await child.exited).toBe(0)
    expect(out).toContain('--port')
    expect(out).toContain('RENDEZVOUS_MAX_BYTES')
  })

  it('should refuse a bad value at start with one line naming the setting, exit code 2', async () => {
    const child = spawnServer(['--ttl', 'forever'])
    const err = await new Response(child.stderr).text()
    expect(await child.exited).toBe(2)
    expect(err.trim().split('\n')).toHaveLength(1)
    expect(err).toContain('--ttl')
  })

  it('should refuse a bad environment value the same way', async () => {
    const child = spawnServer([], { RENDEZVOUS_MAX_BYTES: 'huge' })
    const err = await new Response(child.stderr).text()
    expect(await child.exited).toBe(2)
    expect(err).toContain('RENDEZVOUS_MAX_BYTES')
  })

  it('should serve with flags winning over env, then exit 0 on SIGTERM', async () => {
    const child = spawnServer(['--host', '127.0.0.1', '--port', '0', '--max-bytes', '5'], { RENDEZVOUS_MAX_BYTES: '1000' })
    try {
      const url = await listeningUrl(child.stderr)
      const created = await fetch(url, { method: 'POST', body: '12345' })
      expect(created.status).toBe(200)
      expect(created.headers.get('x-max-bytes')).toBe('5')
      expect((await fetch(url, { method: 'POST', body: '123456' })).status).toBe(413)
      child.kill('SIGTERM')
      expect(await child.exited).toBe(0)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
