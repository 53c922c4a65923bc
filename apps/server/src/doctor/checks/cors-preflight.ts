import { MSC3886_PATH, MSC4108_PATH } from '@rendezvous/protocol'
import { type Check, fail, pass } from '../check.ts'
import { ORIGIN, failed, listOf } from '../context.ts'
import { msc4388Path } from './msc4388.ts'

/** The request headers Matrix clients send, which every preflight must allow. */
const REQUESTED_HEADERS = ['authorization', 'content-type', 'if-match', 'if-none-match', 'prefer']
export const UNKNOWN_ID = 'AAAAAAAAAAAAAAAAAAAAAA'

/** Preflights on every create path that answered and on a session: the methods and headers clients send, from any origin. */
export const corsPreflight: Check = {
  id: 'cors-preflight',
  title: 'CORS preflights',
  async run(context) {
    const { base, matrixOrigin, routed } = context
    const preflights: [string, string][] = [
      [base, 'POST'],
      [`${base}${UNKNOWN_ID}`, 'PUT'],
      ...(routed.msc3886 ? [[`${matrixOrigin}${MSC3886_PATH}`, 'POST'] as [string, string]] : []),
      ...(routed.msc4108 ? [[`${matrixOrigin}${MSC4108_PATH}`, 'POST'] as [string, string]] : []),
      ...(routed.msc4388 ? [[msc4388Path(context), 'POST'] as [string, string]] : []),
    ]
    const problems: string[] = []
    for (const [url, method] of preflights) {
      const answer = await context.call('OPTIONS', url, {
        headers: { 'access-control-request-method': method, 'access-control-request-headers': REQUESTED_HEADERS.join(', ') },
      })
      if (answer instanceof Error) {
        problems.push(`${url}: ${failed(answer)}`)
        continue
      }
      const methods = listOf(answer.headers.get('access-control-allow-methods'))
      const allowed = listOf(answer.headers.get('access-control-allow-headers'))
      const missing = [
        ...(methods.includes(method.toLowerCase()) ? [] : [method]),
        ...REQUESTED_HEADERS.filter((h) => !allowed.includes(h) && !allowed.includes('*')),
      ]
      const allowOrigin = answer.headers.get('access-control-allow-origin')
      if (answer.status !== 204 && answer.status !== 200) problems.push(`${url}: ${answer.status}`)
      else if (allowOrigin !== '*' && allowOrigin !== ORIGIN) problems.push(`${url}: no Access-Control-Allow-Origin`)
      else if (missing.length > 0) problems.push(`${url}: does not allow ${missing.join(', ')}`)
    }
    if (problems.length > 0) return fail(problems.join('; '), 'cors-by-proxy')
    return pass(`${preflights.length} paths allow ${REQUESTED_HEADERS.join(', ')} from any origin`)
  },
}
