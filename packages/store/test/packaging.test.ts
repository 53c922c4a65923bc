/**
 * The two Bun-free packages as a consumer outside this workspace gets them: packed with `npm pack`
 * (which builds `dist/`), installed into an empty directory, imported by plain Node (no TypeScript
 * loader) and type-checked by `tsc` with Node's own module resolution. Runs in the Node leg of the
 * test command only.
 */

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const underBun = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined'
const ROOT = resolve(import.meta.dirname, '../../..')

describe.skipIf(underBun)('@rendezvous/protocol and @rendezvous/store outside the workspace (Node only)', () => {
  let consumer: string

  beforeAll(() => {
    consumer = mkdtempSync(join(tmpdir(), 'rendezvous-consumer-'))
    for (const pkg of ['protocol', 'store']) {
      execFileSync('npm', ['pack', '--silent', '--pack-destination', consumer], { cwd: join(ROOT, 'packages', pkg), stdio: 'pipe' })
    }
    const tarballs = readdirSync(consumer).filter((f) => f.endsWith('.tgz'))
    expect(tarballs).toHaveLength(2)
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs.map((t) => `./${t}`)], {
      cwd: consumer,
      stdio: 'pipe',
    })
  }, 120_000)

  afterAll(() => {
    if (consumer) rmSync(consumer, { recursive: true, force: true })
  })

  it('should run in plain Node from the built JavaScript', () => {
    writeFileSync(
      join(consumer, 'use.mjs'),
      `
import { parseEntityTagCondition, conditionMatches, MSC4388_PATHS } from '@rendezvous/protocol'
import { MemoryStore, waitForChange } from '@rendezvous/store'
const store = new MemoryStore({ ttlMs: 60_000, maxSessions: 10, maxTotalBytes: 1024 })
const created = await store.create({ payload: new Uint8Array([0, 255, 7]), contentType: 'application/octet-stream' })
const known = parseEntityTagCondition(created.rendezvous.etag)
const waiting = waitForChange(store, created.rendezvous.id, known.condition, { timeoutMs: 5000 })
await store.update(created.rendezvous.id, { payload: new Uint8Array([1]), contentType: 'text/plain', ifMatch: known.condition })
const outcome = await waiting
console.log(JSON.stringify({ kind: outcome.kind, bytes: [...outcome.rendezvous.payload], matches: conditionMatches(known.condition, created.rendezvous.etag), paths: MSC4388_PATHS.length }))
await store.close()
`,
    )
    const out = execFileSync(process.execPath, ['use.mjs'], { cwd: consumer, encoding: 'utf8' })
    expect(JSON.parse(out)).toEqual({ kind: 'changed', bytes: [1], matches: true, paths: 2 })
  })

  it("should type-check against the packages' declarations with Node's module resolution", () => {
    writeFileSync(
      join(consumer, 'use.ts'),
      `
import { type EntityTagCondition, parseEntityTagCondition } from '@rendezvous/protocol'
import { MemoryStore, type RendezvousStore, type UpdateResult } from '@rendezvous/store'
import { describeStoreConformance } from '@rendezvous/store/testing'
const store: RendezvousStore = new MemoryStore({ ttlMs: 1, maxSessions: 1, maxTotalBytes: 1 })
const parsed = parseEntityTagCondition('"x"')
const condition: EntityTagCondition | null = parsed.ok ? parsed.condition : null
export async function write(): Promise<UpdateResult> {
  return store.update('id', { payload: new Uint8Array(0), contentType: 'text/plain', ifMatch: condition ?? { kind: 'any' } })
}
export const suite: typeof describeStoreConformance = describeStoreConformance
// @ts-expect-error -- reason: a wrong shape must not type-check, which shows the declarations are really read
export const wrong: UpdateResult = { ok: 'maybe' }
`,
    )
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'node16',
          moduleResolution: 'node16',
          target: 'ES2022',
          lib: ['ES2023', 'DOM'],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ['use.ts'],
      }),
    )
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
    const result = (() => {
      try {
        return execFileSync(process.execPath, [tsc, '-p', consumer], { encoding: 'utf8', stdio: 'pipe' })
      } catch (error) {
        return (error as { stdout: string }).stdout
      }
    })()
    expect(result).toBe('')
  })
})
