import { type Check, NO_SESSION, fail, pass, skip } from '../check.ts'
import { failed } from '../context.ts'

/** A held long-poll must answer within this of the write that ends it. */
const WAKE_LATE_MS = 1000

/** A GET held with `Prefer: wait` answers within a second of the write that ends it. */
export const longPoll: Check = {
  id: 'long-poll',
  title: 'long-poll wake-up',
  async run(context) {
    const { session } = context
    if (!session) return NO_SESSION
    const wait = Math.min(context.maxWaitSeconds, 20)
    if (wait === 0) return skip('the server allows no long-poll wait (RENDEZVOUS_MAX_WAIT_SECONDS=0)')
    const current = context.currentEtag
    const held = context.call('GET', session.url, { headers: { 'if-none-match': current, prefer: `wait=${wait}` }, timeoutMs: (wait + 15) * 1000 })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const wake = await context.call('PUT', session.url, { body: 'rendezvous doctor: wake', headers: { 'if-match': current, 'content-type': 'text/plain' } })
    const wokenAt = performance.now()
    const answer = await held
    const lateMs = performance.now() - wokenAt
    if (!(wake instanceof Error)) context.currentEtag = wake.headers.get('etag') ?? current
    if (answer instanceof Error || wake instanceof Error) return fail(failed(answer instanceof Error ? answer : (wake as Error)), 'read-timeout')
    if (answer.status === 304 && !answer.headers.get('preference-applied')) {
      return fail('a GET with Prefer: wait answered at once without Preference-Applied: the Prefer header did not reach the server', 'not-routed')
    }
    if (answer.status !== 200) return fail(`the held GET ended ${answer.status}, not 200 with the write`, 'read-timeout')
    if (lateMs > WAKE_LATE_MS) return fail(`the held GET answered ${Math.round(lateMs)} ms after the write`, 'buffering')
    return pass(`held GET woken ${Math.round(lateMs)} ms after the write`)
  },
}
