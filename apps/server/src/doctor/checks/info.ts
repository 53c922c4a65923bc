import { ServerInfo } from '@rendezvous/protocol'
import { Value } from '@sinclair/typebox/value'
import { type Check, fail, pass } from '../check.ts'
import { failed, parseJson } from '../context.ts'

/** `GET <url>_rendezvous/info`: the version and the limits the later checks work within. */
export const info: Check = {
  id: 'info',
  title: 'server info',
  async run(context) {
    const answer = await context.call('GET', `${context.base}_rendezvous/info`)
    const body = answer instanceof Error ? null : parseJson(answer.text)
    if (answer instanceof Error || answer.status !== 200 || !Value.Check(ServerInfo, body)) {
      return fail(`${context.base}_rendezvous/info ${failed(answer)} (servers older than 0.2.0 do not have it)`, 'not-routed')
    }
    context.info = body
    context.maxBytes = body.max_bytes
    context.maxWaitSeconds = body.max_wait_seconds
    const topology = body.store_topology ? ` (${body.store_topology})` : ''
    return pass(
      `rendezvous ${body.version}, store ${body.store}${topology}, max_bytes ${body.max_bytes}, long-poll up to ${body.max_wait_seconds} s, ttl ${body.ttl_seconds} s, create auth ${body.create_auth}`,
    )
  },
}
