/**
 * The container image as operators run it, under a real Podman (rootful, runc): built offline and
 * reproducibly by `npm run image`, loaded from its OCI archive, started read-only with every
 * capability dropped as its own non-root user; every dialect's login from the host, the health
 * check, a drain on `podman stop`, two containers sharing one Redis; the same image built from the
 * Containerfile; and the arm64 executable under qemu-user.
 */

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { type TestRedis, freePort, startTestRedis } from '@rendezvous/store/testing/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import serverPackage from '../package.json' with { type: 'json' }
import { parse } from 'yaml'
import { SETTINGS } from '../src/config.ts'
import { exchangeOnEveryDialect } from './exchanges.ts'
import { sleep } from './harness.ts'

const ROOT = resolve(import.meta.dirname, '../../..')
const runs = (command: string, args: string[]) => spawnSync(command, args, { stdio: 'ignore' }).status === 0
const PODMAN = runs('podman', ['--version']) && runs('runc', ['--version'])
const QEMU = runs('qemu-aarch64-static', ['--version'])
const APT = runs('apt-get', ['--version']) && runs('dpkg-deb', ['--version'])
if (!APT) console.warn('\n*** SKIPPED: the image tests. The image takes glibc and CA certificates from Debian packages; no apt-get/dpkg-deb here. ***\n')
if (!PODMAN) console.warn('\n*** SKIPPED: running the image. No podman or runc (apt-get install podman runc; .ci/run installs them). ***\n')
if (!QEMU)
  console.warn('\n*** SKIPPED: the arm64 executable under emulation. No qemu-aarch64-static (apt-get install qemu-user-static; .ci/run installs it). ***\n')

const IMAGE = `localhost/rendezvous:${serverPackage.version}`
const ARCHIVE = resolve(ROOT, `dist/rendezvous-${serverPackage.version}.oci.tar`)
/** Rootful Podman on this kernel: runc (crun refuses its hybrid cgroups), cgroupfs, explicit ulimits. */
const PODMAN_FLAGS = ['--runtime', 'runc', '--cgroup-manager=cgroupfs']
const RUN_FLAGS = [
  '--read-only',
  '--cap-drop=ALL',
  '--network',
  'host',
  '--ulimit',
  'nofile=8192:8192',
  '--ulimit',
  'nproc=4096:4096',
  '--health-interval',
  'disable',
]

function podman(...args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync('podman', [...PODMAN_FLAGS, ...args], { encoding: 'utf8', cwd: ROOT })
  return { status: result.status ?? -1, stdout: result.stdout.trim(), stderr: result.stderr.trim() }
}

function buildImage(args: string[] = []): { digest: string; manifests: Record<string, string>; seconds: number; archive_bytes: number } {
  const result = spawnSync(process.execPath, ['scripts/image.ts', ...args], { cwd: ROOT, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`npm run image failed: ${result.stderr}`)
  return JSON.parse(result.stdout)
}

const containers: string[] = []

/** Starts the image as a container on host networking, waits until it is ready, returns its origin. */
async function runContainer(
  image: string,
  env: Record<string, string> = {},
  extra: string[] = [],
): Promise<{ name: string; origin: string; metrics: string; startedMs: number }> {
  const port = await freePort()
  const metricsPort = await freePort()
  const name = `rz-test-${process.pid}-${containers.length}`
  containers.push(name)
  const started = performance.now()
  // On the host's network every container needs ports of its own, whatever `env` says.
  const environment = {
    RENDEZVOUS_SHUTDOWN_DRAIN_SECONDS: '1',
    RENDEZVOUS_SHUTDOWN_GRACE_SECONDS: '2',
    ...env,
    PORT: String(port),
    HOST: '127.0.0.1',
    RENDEZVOUS_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
  }
  const run = podman('run', '-d', '--name', name, ...RUN_FLAGS, ...extra, ...Object.entries(environment).flatMap(([k, v]) => ['-e', `${k}=${v}`]), image)
  if (run.status !== 0) throw new Error(`podman run: ${run.stderr}`)
  const origin = `http://127.0.0.1:${port}`
  for (let i = 0; i < 400; i++) {
    const ready = await fetch(`${origin}/ready`).catch(() => null)
    if (ready?.status === 200) return { name, origin, metrics: `http://127.0.0.1:${metricsPort}/metrics`, startedMs: performance.now() - started }
    await sleep(25)
  }
  throw new Error(`container ${name} never became ready: ${podman('logs', name).stderr}`)
}

afterAll(() => {
  for (const name of containers) podman('rm', '-f', '-t', '0', name)
})

describe.skipIf(!APT)('npm run image', () => {
  let first: ReturnType<typeof buildImage>
  beforeAll(() => {
    first = buildImage()
  }, 180_000)

  it('should be reproducible: a second build of the commit has the same digests', () => {
    const second = buildImage()
    expect(second.digest).toBe(first.digest)
    expect(second.manifests).toEqual(first.manifests)
    expect(Object.keys(first.manifests).sort()).toEqual(['amd64', 'arm64'])
    console.log(`image: ${first.digest}, archive ${(first.archive_bytes / 1e6).toFixed(1)} MB, built in ${first.seconds} s`)
  }, 180_000)

  it('should write an OCI layout whose configs run as 65532 with ports, labels and an exec-form health check', async () => {
    const listing = spawnSync('tar', ['-tf', ARCHIVE], { encoding: 'utf8' }).stdout.split('\n')
    expect(listing).toContain('oci-layout')
    expect(listing).toContain('index.json')
    const blob = (digest: string) =>
      JSON.parse(spawnSync('tar', ['-xOf', ARCHIVE, `blobs/sha256/${digest.slice(7)}`], { encoding: 'utf8', maxBuffer: 1 << 20 }).stdout)
    const index = JSON.parse(spawnSync('tar', ['-xOf', ARCHIVE, 'index.json'], { encoding: 'utf8' }).stdout)
    const platforms = blob(index.manifests[0].digest)
    expect(platforms.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture).sort()).toEqual(['amd64', 'arm64'])
    for (const entry of platforms.manifests) {
      const config = blob(blob(entry.digest).config.digest)
      expect(config.config.User).toBe('65532:65532')
      expect(Object.keys(config.config.ExposedPorts).sort()).toEqual(['8080/tcp', '9108/tcp'])
      expect(config.config.Healthcheck.Test).toEqual(['CMD', '/usr/local/bin/rendezvous', 'healthcheck'])
      expect(config.config.Labels['org.opencontainers.image.version']).toBe(serverPackage.version)
      expect(config.config.Labels['org.opencontainers.image.licenses']).toBe('Apache-2.0')
      expect(config.config.Labels['org.opencontainers.image.revision']).toMatch(/^[0-9a-f]{40}$/)
      expect(config.created).toBe(config.config.Labels['org.opencontainers.image.created'])
    }
  })

  describe.skipIf(!PODMAN)('run by Podman', () => {
    let redis: TestRedis | null = null
    afterAll(() => redis?.close())
    beforeAll(async () => {
      redis = await startTestRedis('two containers on one Redis')
      podman('rmi', '-f', IMAGE)
      const loaded = podman('load', '-i', ARCHIVE)
      expect(loaded.status, loaded.stderr).toBe(0)
    }, 60_000)

    it('should serve every dialect read-only, as 65532 with no capabilities, and pass its health check', async () => {
      const container = await runContainer(IMAGE, {}, ['--health-cmd', '["/usr/local/bin/rendezvous","healthcheck"]'])
      console.log(`container ready ${Math.round(container.startedMs)} ms after podman run`)
      expect(await exchangeOnEveryDialect({ origin: container.origin })).toHaveLength(7)
      const pid = podman('inspect', '--format', '{{.State.Pid}}', container.name).stdout
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      expect(status).toMatch(/^Uid:\s+65532\s+65532\s+65532\s+65532$/m)
      expect(status).toMatch(/^CapEff:\s+0+$/m)
      expect(podman('inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', container.name).stdout).toBe('true')
      expect(podman('healthcheck', 'run', container.name).status).toBe(0)
      const metrics = await (await fetch(container.metrics)).text()
      expect(metrics).toMatch(/^rendezvous_build_info\{.*store="memory"\} 1$/m)
      // The health check fails when the server does not answer ready.
      expect(podman('exec', container.name, '/usr/local/bin/rendezvous', 'healthcheck', '--port', '1').status).toBe(1)
    }, 60_000)

    it('should drain on podman stop and exit 0 within drain + grace', async () => {
      const container = await runContainer(IMAGE)
      const started = performance.now()
      const stop = podman('stop', '-t', '20', container.name)
      const seconds = (performance.now() - started) / 1000
      expect(stop.status).toBe(0)
      expect(podman('inspect', '--format', '{{.State.ExitCode}}', container.name).stdout).toBe('0')
      expect(seconds).toBeLessThan(1 + 2 + 1)
      expect(podman('logs', container.name).stderr).toContain('"shutting down"')
    }, 60_000)

    it('should let two containers on one Redis complete logins across them', async () => {
      const shared = redis
      if (!shared) return
      const env = { RENDEZVOUS_STORE: shared.url, RENDEZVOUS_REDIS_PREFIX: shared.uniquePrefix() }
      const [a, b] = await Promise.all([runContainer(IMAGE, env), runContainer(IMAGE, env)])
      expect(await exchangeOnEveryDialect({ origin: a.origin, joinOrigin: b.origin })).toHaveLength(7)
      expect(await exchangeOnEveryDialect({ origin: b.origin, joinOrigin: a.origin })).toHaveLength(7)
    }, 60_000)

    it('should run deploy/compose.yaml as podman-compose reads it, each instance as written serving logins across both', async () => {
      const compose = parse(readFileSync(resolve(ROOT, 'deploy/compose.yaml'), 'utf8'), { merge: true }) as {
        services: Record<
          string,
          {
            image: string
            read_only?: boolean
            cap_drop?: string[]
            security_opt?: string[]
            tmpfs?: string[]
            environment?: Record<string, string>
            stop_grace_period?: string
          }
        >
      }
      const instances = Object.entries(compose.services).filter(([, service]) => service.image?.startsWith('localhost/rendezvous:'))
      expect(instances.map(([name]) => name)).toEqual(['rendezvous-a', 'rendezvous-b'])
      const known = new Set(SETTINGS.flatMap((s) => [s.env, `${s.env}_FILE`]))
      for (const [name, service] of instances) {
        expect(service.image, name).toBe(IMAGE)
        expect(service).toMatchObject({ read_only: true, cap_drop: ['ALL'], tmpfs: ['/tmp'] })
        for (const variable of Object.keys(service.environment ?? {})) expect(known.has(variable), variable).toBe(true)
        expect(Number.parseInt(service.stop_grace_period ?? '0', 10)).toBeGreaterThan(5 + 10 + 2)
      }
      if (runs('podman-compose', ['version'])) {
        // podman-compose 1.0 has no `config`; a dry run parses the file and prints what it would run.
        const project = `rz-compose-${process.pid}`
        const dry = spawnSync('podman-compose', ['-p', project, '-f', 'deploy/compose.yaml', '--dry-run', 'up', '-d'], { cwd: ROOT, encoding: 'utf8' })
        for (const kind of ['volume', 'network']) {
          const made = podman(kind, 'ls', '-q', '--filter', `label=io.podman.compose.project=${project}`).stdout.split('\n').filter(Boolean)
          if (made.length > 0) podman(kind, 'rm', '-f', ...made)
        }
        expect(dry.status, dry.stderr).toBe(0)
        const runLines = dry.stdout.split('\n').filter((line) => line.startsWith('podman run') && line.includes(IMAGE))
        expect(runLines).toHaveLength(2)
        for (const line of runLines) expect(line).toMatch(/--read-only.*--cap-drop ALL/)
      } else {
        console.warn(
          '\n*** SKIPPED: podman-compose reading deploy/compose.yaml. No podman-compose (apt-get install podman-compose; .ci/run installs it). ***\n',
        )
      }
      // Each instance as the file starts it, on a Redis the test owns in place of the file's Valkey.
      const store = { RENDEZVOUS_STORE: redis!.url, RENDEZVOUS_REDIS_PREFIX: redis!.uniquePrefix() }
      const [a, b] = await Promise.all(
        instances.map(([, service]) =>
          runContainer(
            service.image,
            { ...service.environment, ...store },
            (service.security_opt ?? []).flatMap((option) => ['--security-opt', option]),
          ),
        ),
      )
      expect(await exchangeOnEveryDialect({ origin: a!.origin, joinOrigin: b!.origin })).toHaveLength(7)
    }, 60_000)

    it('should build the same image from the Containerfile, with its own health check', async () => {
      const rootfs = spawnSync(process.execPath, ['scripts/image.ts', '--rootfs'], { cwd: ROOT, encoding: 'utf8' })
      expect(rootfs.status, rootfs.stderr).toBe(0)
      const tag = `localhost/rendezvous-containerfile:${process.pid}`
      const built = podman('build', '--format', 'docker', '-f', 'Containerfile', '-t', tag, '.')
      expect(built.status, built.stderr).toBe(0)
      try {
        const container = await runContainer(tag)
        expect(await exchangeOnEveryDialect({ origin: container.origin })).toHaveLength(7)
        expect(podman('healthcheck', 'run', container.name).status).toBe(0)
        podman('rm', '-f', '-t', '0', container.name)
      } finally {
        podman('rmi', '-f', tag)
      }
    }, 120_000)
  })

  describe.skipIf(!QEMU)('the arm64 executable', () => {
    it('should print its help and complete a login under qemu-user with the image glibc', async () => {
      const rootfs = spawnSync(process.execPath, ['scripts/image.ts', '--rootfs', '--arch=arm64'], { cwd: ROOT, encoding: 'utf8' })
      expect(rootfs.status, rootfs.stderr).toBe(0)
      const sysroot = resolve(ROOT, 'dist/rootfs-arm64')
      const executable = `${sysroot}/usr/local/bin/rendezvous`
      const help = spawnSync('qemu-aarch64-static', ['-L', sysroot, executable, '--help'], { encoding: 'utf8' })
      expect(help.stdout).toContain('rendezvous healthcheck')
      const port = await freePort()
      const child = Bun.spawn(['qemu-aarch64-static', '-L', sysroot, executable, '--host', '127.0.0.1', '--port', String(port), '--metrics-listen', 'off'], {
        stdout: 'ignore',
        stderr: 'pipe',
      })
      try {
        const origin = `http://127.0.0.1:${port}`
        for (let i = 0; i < 600 && (await fetch(`${origin}/ready`).catch(() => null))?.status !== 200; i++) await sleep(50)
        expect(await exchangeOnEveryDialect({ origin })).toHaveLength(7)
      } finally {
        child.kill('SIGKILL')
      }
    }, 90_000)
  })
})
