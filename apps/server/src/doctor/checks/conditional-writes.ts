import { type Check, NO_SESSION, fail, pass } from '../check.ts'
import { REPLY, failed } from '../context.ts'

/** A stale `If-Match` is refused; an exact retry of the last write is accepted with the current ETag. */
export const conditionalWrites: Check = {
  id: 'conditional-writes',
  title: 'conditional writes',
  async run(context) {
    const { session } = context
    if (!session) return NO_SESSION
    // The create's ETag is stale once the ETag check has written the reply over it.
    const current = context.currentEtag !== session.etag ? context.currentEtag : null
    const stale = await context.call('PUT', session.url, { body: 'a stale write', headers: { 'if-match': session.etag, 'content-type': 'text/plain' } })
    const retry = await context.call('PUT', session.url, { body: REPLY, headers: { 'if-match': session.etag, 'content-type': 'text/plain' } })
    if (stale instanceof Error || stale.status !== 412) return fail(`a PUT with a stale If-Match ${failed(stale)}, expected 412`)
    if (retry instanceof Error || retry.status !== 202 || (current !== null && retry.headers.get('etag') !== current)) {
      return fail(`a retry of the last PUT ${failed(retry)}, expected 202 with the current ETag (servers older than 0.2.0 answer 412)`)
    }
    return pass('stale If-Match 412; an exact retry 202 with the current ETag')
  },
}
