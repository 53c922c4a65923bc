/**
 * @module Builds the container image offline, with no base image: the single executable, the glibc
 * it links against (from Debian's `libc6`), CA certificates (Debian's `ca-certificates`), a
 * non-root user (65532) and a writable `/tmp`. Nothing is pulled: the executable comes from
 * `bun build --compile` (the arm64 runtime from the npm registry), the rest from the Debian archive.
 *
 *   bun scripts/image.ts            # dist/rendezvous-<version>.oci.tar: amd64 and arm64 under one index
 *   bun scripts/image.ts --rootfs   # dist/rendezvous and dist/rootfs/ for this machine's architecture,
 *                                   # what the Containerfile copies (--arch=arm64: dist/rootfs-arm64/)
 *   bun scripts/image.ts --arch=amd64  # the archive with one architecture only
 *
 * Reproducible: every timestamp is the commit's time (or SOURCE_DATE_EPOCH), entries are sorted,
 * owners are 0:0, and gzip carries no time, so two builds of one commit give the same digests.
 */

import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import serverPackage from '../apps/server/package.json' with { type: 'json' }
import { type TarEntry, tarOf } from './tar.ts'

const ROOT = resolve(import.meta.dirname, '..')
const DIST = join(ROOT, 'dist')
/** The user the image runs as: distroless's "nonroot", a number no host account is likely to have. */
const USER_ID = 65532
export const API_PORT = 8080
export const METRICS_PORT = 9108

interface Architecture {
  readonly oci: 'amd64' | 'arm64'
  readonly bunTarget: string
  /** Debian's multiarch directory, where libc6 puts its libraries. */
  readonly triplet: string
  /** Where the executable's ELF header says the loader is, and where libc6 puts it. */
  readonly loaderPath: string
  readonly loaderTarget: string
}

const ARCHITECTURES: Record<'amd64' | 'arm64', Architecture> = {
  amd64: {
    oci: 'amd64',
    bunTarget: 'bun-linux-x64',
    triplet: 'x86_64-linux-gnu',
    loaderPath: 'lib64/ld-linux-x86-64.so.2',
    loaderTarget: '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
  },
  arm64: {
    oci: 'arm64',
    bunTarget: 'bun-linux-arm64',
    triplet: 'aarch64-linux-gnu',
    loaderPath: 'lib/ld-linux-aarch64.so.1',
    loaderTarget: 'aarch64-linux-gnu/ld-linux-aarch64.so.1',
  },
}
/** What the executable links against (`ldd`), besides the loader. */
const LIBRARIES = ['libc.so.6', 'libm.so.6', 'libpthread.so.0', 'libdl.so.2']

const PASSWD = `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${USER_ID}:${USER_ID}:nonroot:/tmp:/sbin/nologin\n`
const GROUP = `root:x:0:\nnonroot:x:${USER_ID}:\n`
const NSSWITCH = 'passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n'

const hostArchitecture = (): Architecture => (process.arch === 'arm64' ? ARCHITECTURES.arm64 : ARCHITECTURES.amd64)

// --- Inputs ---

function git(...args: string[]): string | null {
  const result = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' })
  return result.status === 0 ? result.stdout.trim() : null
}

/** The commit time: every timestamp in the image, so a rebuild of one commit is the same image. */
function sourceDateEpoch(): number {
  const fromEnv = process.env['SOURCE_DATE_EPOCH']
  if (fromEnv && /^\d+$/.test(fromEnv)) return Number(fromEnv)
  return Number(git('log', '-1', '--format=%ct') ?? 0)
}

/** The executable for `arch`, compiled under a fixed name (the name is embedded in it). */
function compile(arch: Architecture): Uint8Array {
  const dir = join(DIST, 'image', arch.oci)
  mkdirSync(dir, { recursive: true })
  const outfile = join(dir, 'rendezvous')
  execFileSync(process.execPath, ['build', '--compile', '--minify', `--target=${arch.bunTarget}`, 'apps/server/src/main.ts', '--outfile', outfile], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  return readFileSync(outfile)
}

/**
 * A Debian package's files, extracted from the `.deb` apt names for this release (downloaded once
 * into dist/image/debs). Packages for another architecture come from the same pool, by name.
 */
function debianPackage(name: string, arch: string): string {
  const cache = join(DIST, 'image', 'debs')
  mkdirSync(cache, { recursive: true })
  const printed = spawnSync('apt-get', ['download', '--print-uris', name], { encoding: 'utf8' })
  const line = printed.stdout
    .trim()
    .split('\n')
    .find((l) => l.startsWith("'"))
  if (printed.status !== 0 || !line) throw new Error(`apt-get cannot name the ${name} package (run apt-get update first): ${printed.stderr.trim()}`)
  const [quotedUri, file, , checksum] = line.split(' ')
  const hostArch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim()
  const uri = quotedUri!.slice(1, -1).replace(`_${hostArch}.deb`, `_${arch}.deb`)
  const deb = join(cache, file!.replace(`_${hostArch}.deb`, `_${arch}.deb`))
  if (!existsSync(deb)) {
    const download = spawnSync('curl', ['-sSfL', '--retry', '3', '-o', `${deb}.part`, uri], { stdio: ['ignore', 'ignore', 'inherit'] })
    if (download.status !== 0) throw new Error(`cannot download ${uri}`)
    execFileSync('mv', [`${deb}.part`, deb])
  }
  // apt gives the checksum of its own architecture's file; the others are the same build of the same source.
  if (uri === quotedUri!.slice(1, -1) && checksum?.startsWith('SHA256:')) {
    const actual = createHash('sha256').update(readFileSync(deb)).digest('hex')
    if (`SHA256:${actual}` !== checksum) throw new Error(`${deb}: checksum ${actual} is not apt's ${checksum}`)
  }
  const into = mkdtempSync(join(tmpdir(), `rendezvous-${name}-`))
  execFileSync('dpkg-deb', ['-x', deb, into])
  return into
}

// --- The root filesystem ---

/** Every entry of the image's one layer, sorted by path. */
function rootfsEntries(arch: Architecture, executable: Uint8Array): TarEntry[] {
  const libc = debianPackage('libc6', arch.oci)
  const certificates = debianPackage('ca-certificates', 'all')
  try {
    const mozilla = join(certificates, 'usr/share/ca-certificates/mozilla')
    // What update-ca-certificates writes: every certificate, in name order, one after the other.
    const bundle = readdirSync(mozilla)
      .filter((file) => file.endsWith('.crt'))
      .sort()
      .map((file) => readFileSync(join(mozilla, file), 'utf8').trimEnd() + '\n')
      .join('')
    const text = (s: string) => new TextEncoder().encode(s)
    const entries: TarEntry[] = [
      { kind: 'directory', path: 'etc', mode: 0o755 },
      { kind: 'file', path: 'etc/group', mode: 0o644, data: text(GROUP) },
      { kind: 'file', path: 'etc/nsswitch.conf', mode: 0o644, data: text(NSSWITCH) },
      { kind: 'file', path: 'etc/passwd', mode: 0o644, data: text(PASSWD) },
      { kind: 'directory', path: 'etc/ssl', mode: 0o755 },
      { kind: 'directory', path: 'etc/ssl/certs', mode: 0o755 },
      { kind: 'file', path: 'etc/ssl/certs/ca-certificates.crt', mode: 0o644, data: text(bundle) },
      { kind: 'directory', path: 'lib', mode: 0o755 },
      { kind: 'directory', path: `lib/${arch.triplet}`, mode: 0o755 },
      ...[arch.loaderTarget.split('/').pop()!, ...LIBRARIES].map(
        (name): TarEntry => ({ kind: 'file', path: `lib/${arch.triplet}/${name}`, mode: 0o755, data: readFileSync(join(libc, 'lib', arch.triplet, name)) }),
      ),
      ...(arch.loaderPath.startsWith('lib64/') ? [{ kind: 'directory', path: 'lib64', mode: 0o755 } as TarEntry] : []),
      { kind: 'symlink', path: arch.loaderPath, target: arch.loaderTarget },
      { kind: 'directory', path: 'tmp', mode: 0o1777 },
      { kind: 'directory', path: 'usr', mode: 0o755 },
      { kind: 'directory', path: 'usr/local', mode: 0o755 },
      { kind: 'directory', path: 'usr/local/bin', mode: 0o755 },
      { kind: 'file', path: 'usr/local/bin/rendezvous', mode: 0o755, data: executable },
    ]
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  } finally {
    rmSync(libc, { recursive: true, force: true })
    rmSync(certificates, { recursive: true, force: true })
  }
}

/** The root filesystem as a directory, for the Containerfile to copy. */
function writeRootfs(entries: readonly TarEntry[], into: string): void {
  rmSync(into, { recursive: true, force: true })
  mkdirSync(into, { recursive: true })
  for (const entry of entries) {
    const path = join(into, entry.path)
    mkdirSync(dirname(path), { recursive: true })
    if (entry.kind === 'directory') {
      mkdirSync(path, { recursive: true })
      chmodSync(path, entry.mode)
    } else if (entry.kind === 'file') {
      writeFileSync(path, entry.data)
      chmodSync(path, entry.mode)
    } else {
      symlinkSync(entry.target, path)
    }
  }
}

// --- OCI ---

interface Blob {
  readonly digest: string
  readonly size: number
  readonly data: Uint8Array
}

const blobOf = (data: Uint8Array): Blob => ({ digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size: data.byteLength, data })
const jsonBlob = (value: unknown): Blob => blobOf(new TextEncoder().encode(JSON.stringify(value)))

/** The image's configuration: how a runtime starts it. Docker's Healthcheck field is read by Podman and Docker alike. */
function imageConfig(arch: Architecture, layerDiffId: string, created: string, revision: string | null) {
  return {
    created,
    architecture: arch.oci,
    os: 'linux',
    config: {
      User: `${USER_ID}:${USER_ID}`,
      ExposedPorts: { [`${API_PORT}/tcp`]: {}, [`${METRICS_PORT}/tcp`]: {} },
      Env: [
        'PATH=/usr/local/bin:/usr/bin:/bin',
        'HOME=/tmp',
        'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
        'HOST=0.0.0.0',
        `PORT=${API_PORT}`,
        `RENDEZVOUS_METRICS_LISTEN=0.0.0.0:${METRICS_PORT}`,
      ],
      Entrypoint: ['/usr/local/bin/rendezvous'],
      WorkingDir: '/tmp',
      StopSignal: 'SIGTERM',
      Healthcheck: { Test: ['CMD', '/usr/local/bin/rendezvous', 'healthcheck'], Interval: 10e9, Timeout: 3e9, StartPeriod: 5e9, Retries: 3 },
      Labels: labels(created, revision),
    },
    rootfs: { type: 'layers', diff_ids: [layerDiffId] },
    history: [{ created, created_by: 'npm run image (scripts/image.ts)' }],
  }
}

function labels(created: string, revision: string | null): Record<string, string> {
  return {
    'org.opencontainers.image.title': 'rendezvous',
    'org.opencontainers.image.description': serverPackage.description ?? 'HTTP rendezvous server for Matrix sign-in with QR code',
    'org.opencontainers.image.version': serverPackage.version,
    'org.opencontainers.image.revision': revision ?? 'unknown',
    // Where the source lives: IMAGE_SOURCE, else the repository's origin remote.
    'org.opencontainers.image.source': process.env['IMAGE_SOURCE'] ?? git('remote', 'get-url', 'origin') ?? 'unknown',
    'org.opencontainers.image.licenses': 'Apache-2.0',
    'org.opencontainers.image.created': created,
  }
}

export interface BuiltImage {
  readonly archive: string
  /** The digest of the image index: what a registry would call the image. */
  readonly digest: string
  readonly manifests: Readonly<Record<string, string>>
  readonly bytes: number
}

function buildImage(architectures: readonly Architecture[]): BuiltImage {
  const epoch = sourceDateEpoch()
  const created = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z')
  const revision = git('rev-parse', 'HEAD')
  const blobs = new Map<string, Blob>()
  const keep = (blob: Blob) => {
    blobs.set(blob.digest, blob)
    return blob
  }
  const manifests: { digest: string; size: number; arch: Architecture }[] = []
  for (const arch of architectures) {
    const layerTar = tarOf(rootfsEntries(arch, compile(arch)), epoch)
    const diffId = blobOf(layerTar).digest
    const layer = keep(blobOf(gzipSync(layerTar, { level: 9 })))
    const config = keep(jsonBlob(imageConfig(arch, diffId, created, revision)))
    const manifest = keep(
      jsonBlob({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
        annotations: { 'org.opencontainers.image.created': created },
      }),
    )
    manifests.push({ digest: manifest.digest, size: manifest.size, arch })
  }
  const name = `localhost/rendezvous:${serverPackage.version}`
  // One entry naming one multi-platform index, as multi-platform builders write it: a runtime
  // takes the manifest of its own platform.
  const platforms = keep(
    jsonBlob({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: manifests.map((m) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: m.digest,
        size: m.size,
        platform: { architecture: m.arch.oci, os: 'linux' },
      })),
      annotations: labels(created, revision),
    }),
  )
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        digest: platforms.digest,
        size: platforms.size,
        annotations: { 'org.opencontainers.image.ref.name': serverPackage.version, 'io.containerd.image.name': name },
      },
    ],
  }
  const text = (s: string) => new TextEncoder().encode(s)
  const entries: TarEntry[] = [
    { kind: 'directory', path: 'blobs', mode: 0o755 },
    { kind: 'directory', path: 'blobs/sha256', mode: 0o755 },
    ...[...blobs.values()]
      .sort((a, b) => (a.digest < b.digest ? -1 : 1))
      .map((blob): TarEntry => ({ kind: 'file', path: `blobs/sha256/${blob.digest.slice(7)}`, mode: 0o644, data: blob.data })),
    { kind: 'file', path: 'index.json', mode: 0o644, data: text(JSON.stringify(index)) },
    { kind: 'file', path: 'oci-layout', mode: 0o644, data: text(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
  ]
  const archive = join(DIST, `rendezvous-${serverPackage.version}.oci.tar`)
  const bytes = tarOf(entries, epoch)
  writeFileSync(archive, bytes)
  return { archive, digest: platforms.digest, manifests: Object.fromEntries(manifests.map((m) => [m.arch.oci, m.digest])), bytes: bytes.byteLength }
}

// --- Command line ---

if (import.meta.main) {
  const started = performance.now()
  mkdirSync(DIST, { recursive: true })
  const only = process.argv.find((a) => a.startsWith('--arch='))?.slice('--arch='.length)
  const architectures = only ? only.split(',').map((a) => ARCHITECTURES[a as 'amd64' | 'arm64']) : null
  if (architectures?.some((a) => a === undefined)) throw new Error('--arch= takes amd64 and/or arm64')
  if (process.argv.includes('--rootfs')) {
    // Another architecture's root filesystem goes beside this one's, for running it under qemu.
    const arch = architectures?.[0] ?? hostArchitecture()
    const native = arch === hostArchitecture()
    const executable = compile(arch)
    if (native) {
      writeFileSync(join(DIST, 'rendezvous'), executable)
      chmodSync(join(DIST, 'rendezvous'), 0o755)
    }
    const into = native ? 'rootfs' : `rootfs-${arch.oci}`
    try {
      writeRootfs(rootfsEntries(arch, executable), join(DIST, into))
      console.log(`${native ? 'dist/rendezvous and ' : ''}dist/${into}/ (${arch.oci}) in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    } catch (error) {
      // The executable is what most builds want; the root filesystem only matters to the Containerfile.
      console.warn(`dist/rendezvous written; dist/rootfs/ (for the Containerfile) skipped: ${(error as Error).message}`)
    }
  } else {
    const image = buildImage(architectures ?? [ARCHITECTURES.amd64, ARCHITECTURES.arm64])
    console.log(
      JSON.stringify(
        {
          archive: image.archive.replace(`${ROOT}/`, ''),
          digest: image.digest,
          manifests: image.manifests,
          archive_bytes: image.bytes,
          seconds: Math.round((performance.now() - started) / 100) / 10,
        },
        null,
        2,
      ),
    )
  }
}
