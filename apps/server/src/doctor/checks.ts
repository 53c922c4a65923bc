/**
 * @module The doctor's checks, in the order they run: from outside, through the operator's real
 * path, each dialect's exchange the way clients do it, and every way a proxy in between is known to
 * break it. A handful of requests (one long-poll held for the server's longest wait); everything
 * created is deleted. Each check is a file in `checks/` of one shape (`check.ts`); later checks
 * build on what earlier ones learnt (the limits, the rendezvous created), kept in the context.
 *
 * Requests go only to the origins the operator named (the URL's and the Matrix origin): a URL the
 * server returns on another host is reported and then used by its path on the named origin, and a
 * redirect is reported, never followed. A misconfigured server must not turn the doctor into a
 * client of somebody else's host, token included.
 */

import type { Check } from './check.ts'
import { cleanup } from './checks/cleanup.ts'
import { conditionalWrites } from './checks/conditional-writes.ts'
import { corsAnswers } from './checks/cors-answers.ts'
import { corsPreflight } from './checks/cors-preflight.ts'
import { createMsc3886, createMsc4108 } from './checks/create-matrix.ts'
import { createSeed } from './checks/create-seed.ts'
import { etags } from './checks/etags.ts'
import { fullWait } from './checks/full-wait.ts'
import { info } from './checks/info.ts'
import { longPoll } from './checks/long-poll.ts'
import { maxBytes } from './checks/max-bytes.ts'
import { msc4388 } from './checks/msc4388.ts'
import { navigationGuard } from './checks/navigation-guard.ts'
import { storeEviction } from './checks/store-eviction.ts'
import { unbuffered } from './checks/unbuffered.ts'
import { type CheckResult, DoctorContext, type DoctorOptions } from './context.ts'

export type { CheckResult, DoctorOptions, Status } from './context.ts'

export const CHECKS: readonly Check[] = [
  info,
  storeEviction,
  createSeed,
  createMsc3886,
  createMsc4108,
  msc4388,
  navigationGuard,
  corsPreflight,
  etags,
  conditionalWrites,
  corsAnswers,
  unbuffered,
  longPoll,
  maxBytes,
  fullWait,
  cleanup,
]

export async function runChecks(options: DoctorOptions): Promise<CheckResult[]> {
  const context = new DoctorContext(options)
  const results: CheckResult[] = []
  for (const check of CHECKS) {
    // A check that throws is a failure of that check, not of the run.
    const verdict = await Promise.resolve()
      .then(() => check.run(context))
      .catch((error: Error) => ({ status: 'fail' as const, detail: `the check itself failed: ${error.message}` }))
    if (verdict === null) continue
    const result: CheckResult = { id: check.id, title: check.title, ...verdict }
    results.push(result)
    options.onResult?.(result)
  }
  return results
}
