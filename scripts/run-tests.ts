/**
 * @module The one test command (`npm test`): type-checks and tests every workspace package through
 * turbo, then sums the vitest reports of all packages into the closing line `N passed, N failed`.
 */

import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..')
const REPORT = '.test-results.json'

interface VitestReport {
  numPassedTests: number
  numFailedTests: number
  numPendingTests: number
  numTodoTests: number
  success: boolean
}

const packages = ['packages', 'apps'].flatMap((group) =>
  readdirSync(join(ROOT, group), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(ROOT, group, entry.name, 'package.json')))
    .map((entry) => join(group, entry.name)),
)
const tested = packages.filter((dir) => {
  const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }
  return manifest.scripts?.['test'] !== undefined
})

// A report left over from an earlier run must not be counted as this run's.
for (const dir of tested) rmSync(join(ROOT, dir, REPORT), { force: true })

const turbo = Bun.spawn(['turbo', 'run', 'check-types', 'test', '--continue', '--ui=stream', ...process.argv.slice(2)], {
  cwd: ROOT,
  stdio: ['inherit', 'inherit', 'inherit'],
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', TURBO_NO_UPDATE_NOTIFIER: '1' },
})
const turboExit = await turbo.exited

let passed = 0
let failed = 0
let skipped = 0
for (const dir of tested) {
  const path = join(ROOT, dir, REPORT)
  if (!existsSync(path)) {
    console.error(`${dir}: no test report (the test run crashed or was not started); counted as 1 failed`)
    failed++
    continue
  }
  const report = JSON.parse(readFileSync(path, 'utf8')) as VitestReport
  console.log(`${dir}: ${report.numPassedTests} passed, ${report.numFailedTests} failed`)
  passed += report.numPassedTests
  failed += report.numFailedTests
  skipped += report.numPendingTests + report.numTodoTests
  // A suite that failed to load has no failed tests but is still a failure.
  if (!report.success && report.numFailedTests === 0) failed++
}
if (turboExit !== 0 && failed === 0) {
  console.error('type-checking failed (see above); counted as 1 failed')
  failed++
}
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
process.exit(failed > 0 || turboExit !== 0 ? 1 : 0)
