import { type Check, NO_SESSION, fail, pass } from '../check.ts'
import { type Answer, FIRST_MESSAGE, REPLY, failed } from '../context.ts'
import type { MistakeId } from '../mistakes.ts'

/** ETags, dates and encodings on 200, 202 and 304: strong, unchanged by the proxy, never compressed. */
export const etags: Check = {
  id: 'etags',
  title: 'ETags on 200, 202 and 304',
  async run(context) {
    const { session, seedAnswer } = context
    if (!session || !seedAnswer) return NO_SESSION
    const problems: { text: string; mistake: MistakeId }[] = []
    const look = (what: string, answer: Answer | Error, status: number, etag?: string): Answer | null => {
      if (answer instanceof Error || answer.status !== status) {
        problems.push({ text: `${what}: expected ${status}, ${failed(answer)}`, mistake: 'not-routed' })
        return null
      }
      const encoding = answer.headers.get('content-encoding')
      const got = answer.headers.get('etag')
      if (encoding) problems.push({ text: `${what} came compressed (${encoding})`, mistake: 'compression' })
      if (got === null) problems.push({ text: `${what} has no ETag`, mistake: 'etag-dropped' })
      else if (got.startsWith('W/')) problems.push({ text: `${what} has a weak ETag ${got}`, mistake: 'compression' })
      else if (etag !== undefined && got !== etag) problems.push({ text: `${what} has ETag ${got}, expected ${etag}`, mistake: 'etag-dropped' })
      if (!answer.headers.get('expires') || !answer.headers.get('last-modified'))
        problems.push({ text: `${what} lacks Expires or Last-Modified`, mistake: 'etag-dropped' })
      return answer
    }
    const { url } = session
    look('the create answer', seedAnswer, 200)
    const first = look('GET (200)', await context.call('GET', url), 200, session.etag)
    if (first && first.text !== FIRST_MESSAGE)
      problems.push({ text: `GET returned ${JSON.stringify(first.text.slice(0, 60))}, not what was written`, mistake: 'not-routed' })
    look('GET with If-None-Match (304)', await context.call('GET', url, { headers: { 'if-none-match': session.etag } }), 304, session.etag)
    const written = look('PUT (202)', await context.call('PUT', url, { body: REPLY, headers: { 'if-match': session.etag, 'content-type': 'text/plain' } }), 202)
    const replyEtag = written?.headers.get('etag') ?? null
    if (replyEtag) {
      context.currentEtag = replyEtag
      look('GET after the PUT (200)', await context.call('GET', url), 200, replyEtag)
    }
    if (problems.length > 0) return fail(problems.map((p) => p.text).join('; '), problems[0]!.mistake)
    return pass('strong, byte-identical, with Expires and Last-Modified, never compressed')
  },
}
