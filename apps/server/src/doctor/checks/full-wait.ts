import { type Check, NO_SESSION, fail, pass, skip } from '../check.ts'
import { failed } from '../context.ts'

/** A long-poll held for the server's whole wait gets its 304, not a proxy's timeout. */
export const fullWait: Check = {
  id: 'full-wait',
  title: 'long-poll held for the whole wait',
  async run(context) {
    const { session, maxWaitSeconds: wait } = context
    if (!session) return NO_SESSION
    if (context.options.fullWait === false) return skip('skipped (--quick)')
    if (wait === 0) return skip('the server allows no wait')
    const answer = await context.call('GET', session.url, {
      headers: { 'if-none-match': context.currentEtag, prefer: `wait=${wait}` },
      timeoutMs: (wait + 20) * 1000,
    })
    const seconds = answer instanceof Error ? 0 : Math.round(answer.elapsedMs / 100) / 10
    if (!(answer instanceof Error) && answer.status === 304 && answer.headers.get('preference-applied') === `wait=${wait}`) {
      return pass(`304 after ${seconds} s (the server's wait is ${wait} s)`)
    }
    return fail(`a GET waiting ${wait} s ${failed(answer)}${answer instanceof Error ? '' : ` after ${seconds} s`}`, 'read-timeout')
  },
}
