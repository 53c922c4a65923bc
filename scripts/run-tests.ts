/**
 * @module The one test command (`npm test`): type-checks and tests every workspace package through
 * turbo (under Bun, and the protocol and store packages under Node as well), then sums the vitest
 * reports of all runs into the closing line `N passed, N failed`.
 */

import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..')
/** Each test task and the report its vitest run writes. `test:node` runs the Bun-free packages under Node. */
const LEGS = [
  { task: 'test', report: '.test-results.json', label: '' },
  { task: 'test:node', report: '.test-results.node.json', label: ' (node)' },
] as const

interface VitestReport {
  numPassedTests: number
  numFailedTests: number
  numPendingTests: number
  numTodoTests: number
  success: boolean
  testResults: { name: string; status: string; message?: string; assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[]
}

const packages = ['packages', 'apps'].flatMap((group) =>
  readdirSync(join(ROOT, group), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(ROOT, group, entry.name, 'package.json')))
    .map((entry) => join(group, entry.name)),
)
const runs = packages.flatMap((dir) => {
  const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }
  return LEGS.filter((leg) => manifest.scripts?.[leg.task] !== undefined).map((leg) => ({ dir, ...leg }))
})

// A report left over from an earlier run must not be counted as this run's.
for (const run of runs) rmSync(join(ROOT, run.dir, run.report), { force: true })

// Lint and format (Biome, the root's `//#lint` task) run beside type-checking: a finding fails the run.
const turbo = Bun.spawn(['turbo', 'run', 'check-types', '//#lint', ...LEGS.map((leg) => leg.task), '--continue', '--ui=stream', ...process.argv.slice(2)], {
  cwd: ROOT,
  stdio: ['inherit', 'inherit', 'inherit'],
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', TURBO_NO_UPDATE_NOTIFIER: '1' },
})
const turboExit = await turbo.exited

let passed = 0
let failed = 0
let skipped = 0
/** Failed tests named again here, so a log that keeps only its tail still says what failed. */
const failures: string[] = []
for (const { dir, report: reportFile, label } of runs) {
  const path = join(ROOT, dir, reportFile)
  if (!existsSync(path)) {
    console.error(`${dir}${label}: no test report (the test run crashed or was not started); counted as 1 failed`)
    failed++
    continue
  }
  const report = JSON.parse(readFileSync(path, 'utf8')) as VitestReport
  console.log(`${dir}${label}: ${report.numPassedTests} passed, ${report.numFailedTests} failed`)
  passed += report.numPassedTests
  failed += report.numFailedTests
  skipped += report.numPendingTests + report.numTodoTests
  for (const file of report.testResults ?? []) {
    const where = `${file.name.slice(ROOT.length + 1)}${label}`
    if (file.status === 'failed' && !file.assertionResults.some((test) => test.status === 'failed')) {
      failures.push(`  ${where}: did not load\n      ${(file.message ?? '').split('\n', 1)[0]!.slice(0, 300)}`)
    }
    for (const test of file.assertionResults) {
      if (test.status !== 'failed') continue
      const reason = (test.failureMessages[0] ?? '').split('\n', 1)[0]!.slice(0, 300)
      failures.push(`  ${where}: ${test.fullName}\n      ${reason}`)
    }
  }
  // A suite that failed to load has no failed tests but is still a failure.
  if (!report.success && report.numFailedTests === 0) failed++
}
if (turboExit !== 0 && failed === 0) {
  console.error('type-checking, lint or formatting failed (see above); counted as 1 failed')
  failed++
}
if (failures.length > 0) console.log(`failed:\n${failures.join('\n')}`)
if (skipped > 0) console.log(`${skipped} skipped (each skipping suite says why above)`)
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 || turboExit !== 0 ? 1 : 0)
