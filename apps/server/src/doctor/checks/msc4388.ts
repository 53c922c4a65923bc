import { MSC4388_PATHS } from '@rendezvous/protocol'
import { type Check, fail, pass, skip } from '../check.ts'
import { type DoctorContext, failed, parseJson } from '../context.ts'

/** The MSC4388 base path on the Matrix origin. */
export const msc4388Path = (context: DoctorContext) => `${context.matrixOrigin}${MSC4388_PATHS[0]}`

/** MSC4388: discovery (with the token), create, a read as a script makes it, and a write. */
export const msc4388: Check = {
  id: 'msc4388',
  title: 'MSC4388 exchange',
  async run(context) {
    const base = msc4388Path(context)
    const discovery = await context.call('GET', base, { authorized: true })
    if (discovery instanceof Error || discovery.status !== 200) return fail(`${base} ${failed(discovery)}`, 'not-routed')
    context.routed.msc4388 = true
    if ((parseJson(discovery.text) as { create_available?: unknown })?.create_available !== true) {
      return skip('discovery says create_available false: pass --token-file to check creation')
    }
    const created = await context.call('POST', base, { body: JSON.stringify({ data: 'doctor' }), headers: { 'content-type': 'application/json' } })
    const body = created instanceof Error ? null : (parseJson(created.text) as { id?: string; sequence_token?: string } | null)
    if (created instanceof Error || created.status !== 200 || !body?.id || !body.sequence_token) return fail(`create ${failed(created)}`, 'not-routed')
    context.msc4388Session = { id: body.id, token: body.sequence_token }
    const script = { 'sec-fetch-dest': 'empty', 'sec-fetch-mode': 'cors', 'sec-fetch-site': 'cross-site' }
    const read = await context.call('GET', `${base}/${body.id}`, { headers: script })
    const written = await context.call('PUT', `${base}/${body.id}`, {
      body: JSON.stringify({ sequence_token: body.sequence_token, data: 'doctor reply' }),
      headers: { 'content-type': 'application/json' },
    })
    if (read instanceof Error || read.status !== 200) return fail(`read ${failed(read)}`)
    if (written instanceof Error || written.status !== 200) return fail(`write ${failed(written)}`)
    return pass('discovery, create, read and write answered')
  },
}
