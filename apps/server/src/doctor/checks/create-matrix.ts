import { MSC3886_PATH, MSC4108_PATH, Msc4108CreateResponse } from '@rendezvous/protocol'
import { Value } from '@sinclair/typebox/value'
import { type Check, fail, pass, skip } from '../check.ts'
import { type Answer, FIRST_MESSAGE, failed, parseJson, returnedUrlProblem } from '../context.ts'

/** A Matrix create path (201 in both older dialects), where its answer names the session, and what it carries. */
function matrixCreate(dialect: 'msc3886' | 'msc4108', path: string, body: string, contentType: string, sessionUrl: (answer: Answer) => string | null): Check {
  return {
    id: `create-${dialect}`,
    title: `create (${dialect.toUpperCase()} path)`,
    async run(context) {
      const answer = await context.call('POST', `${context.matrixOrigin}${path}`, { body, headers: { 'content-type': contentType } })
      if (!(answer instanceof Error) && answer.status === 401) return skip('creation needs a token: pass --token-file')
      if (answer instanceof Error || answer.status !== 201) return fail(`${context.matrixOrigin}${path} ${failed(answer)}`, 'not-routed')
      const url = sessionUrl(answer)
      if (url === null) return fail(`answer lacks the session URL: ${answer.text.slice(0, 120)}`, 'not-routed')
      context.cleanup.push(context.onNamedOrigin(url, context.matrixOrigin))
      const problem = returnedUrlProblem(url, new URL(context.matrixOrigin))
      if (problem) return fail(problem.detail, problem.mistake)
      context.routed[dialect] = true
      return pass(`201 with ${url}`)
    },
  }
}

export const createMsc3886 = matrixCreate('msc3886', MSC3886_PATH, '{"doctor":true}', 'application/json', (answer) => answer.headers.get('location'))

export const createMsc4108 = matrixCreate('msc4108', MSC4108_PATH, FIRST_MESSAGE, 'text/plain', (answer) => {
  const body = parseJson(answer.text)
  return Value.Check(Msc4108CreateResponse, body) ? body.url : null
})
