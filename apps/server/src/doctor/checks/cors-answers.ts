import { CORS_EXPOSE_HEADERS } from '@rendezvous/protocol'
import { type Check, NO_SESSION, fail, pass } from '../check.ts'
import { listOf } from '../context.ts'
import { UNKNOWN_ID } from './cors-preflight.ts'

const EXPOSED = CORS_EXPOSE_HEADERS.split(',').map((h) => h.trim().toLowerCase())

/** CORS on answers, errors included: a browser client must be able to read both. */
export const corsAnswers: Check = {
  id: 'cors-answers',
  title: 'CORS on answers',
  async run(context) {
    if (!context.session || !context.seedAnswer) return NO_SESSION
    const problems: string[] = []
    const missingError = await context.call('GET', `${context.base}${UNKNOWN_ID}`)
    for (const [what, answer] of [
      ['the create answer', context.seedAnswer],
      ['a 404 error', missingError],
    ] as const) {
      if (answer instanceof Error) continue
      const exposed = listOf(answer.headers.get('access-control-expose-headers'))
      const missing = EXPOSED.filter((h) => !exposed.includes(h))
      if (answer.headers.get('access-control-allow-origin') !== '*') problems.push(`${what} lacks Access-Control-Allow-Origin: *`)
      if (missing.length > 0) problems.push(`${what} does not expose ${missing.join(', ')}`)
    }
    if (!(missingError instanceof Error) && !missingError.text.includes('M_NOT_FOUND')) {
      problems.push(`a 404 for an unknown id is not the server's JSON error: ${missingError.text.slice(0, 80)}`)
    }
    if (problems.length > 0) return fail(problems.join('; '), 'cors-headers-stripped')
    return pass('Access-Control-Allow-Origin and Expose-Headers on answers and errors')
  },
}
