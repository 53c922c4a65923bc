import { CreateResponse } from '@rendezvous/protocol'
import { Value } from '@sinclair/typebox/value'
import { type Check, fail, pass, skip } from '../check.ts'
import { FIRST_MESSAGE, failed, parseJson, returnedUrlProblem } from '../context.ts'

/** `POST` to the prefix: the answer's shape, and a returned URL with the client's scheme and host. */
export const createSeed: Check = {
  id: 'create-seed',
  title: 'create (POST to the prefix)',
  async run(context) {
    const answer = await context.call('POST', context.base, { body: FIRST_MESSAGE, headers: { 'content-type': 'text/plain' } })
    if (!(answer instanceof Error) && answer.status === 401) return skip('creation needs a token: pass --token-file to check the exchange')
    if (answer instanceof Error || answer.status !== 200) return fail(`${context.base} ${failed(answer)}`, 'not-routed')
    const body = parseJson(answer.text)
    if (!Value.Check(CreateResponse, body)) return fail(`answer is not {"id","max_bytes","url"}: ${answer.text.slice(0, 120)}`, 'not-routed')
    // Where the URL names another host, the exchange goes on by its path on the origin named.
    const usable = context.onNamedOrigin(body.url, context.publicUrl.origin)
    context.cleanup.push(usable)
    context.seedAnswer = answer
    context.session = { id: body.id, url: usable, etag: answer.headers.get('etag') ?? '' }
    context.currentEtag = context.session.etag
    const problem = returnedUrlProblem(body.url, context.publicUrl)
    return problem ? fail(problem.detail, problem.mistake) : pass(`200 with url ${body.url}`)
  },
}
