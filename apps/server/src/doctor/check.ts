/**
 * @module The one shape of a doctor check: an id, a title and a `run` that looks at the deployment
 * through the shared context and returns its verdict (or null when it does not apply, e.g. a Redis
 * check on a memory store). A new check is one new file in `checks/` and one line in the runner.
 */

import type { DoctorContext } from './context.ts'
import type { MistakeId } from './mistakes.ts'

export type Verdict =
  | { readonly status: 'pass'; readonly detail: string }
  | { readonly status: 'fail'; readonly detail: string; readonly mistake?: MistakeId }
  | { readonly status: 'skip'; readonly detail: string }

export interface Check {
  readonly id: string
  readonly title: string
  run(context: DoctorContext): Promise<Verdict | null> | Verdict | null
}

export const pass = (detail: string): Verdict => ({ status: 'pass', detail })
export const fail = (detail: string, mistake?: MistakeId): Verdict => ({ status: 'fail', detail, ...(mistake ? { mistake } : {}) })
export const skip = (detail: string): Verdict => ({ status: 'skip', detail })

/** What the checks that exchange messages through the root dialect say without a rendezvous to do it with. */
export const NO_SESSION = skip('no rendezvous to check with')
