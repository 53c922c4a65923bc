import { type Check, NO_SESSION, fail, pass } from '../check.ts'
import { failed } from '../context.ts'

/** The proxy takes a body of the size the server advertises. */
export const maxBytes: Check = {
  id: 'max-bytes',
  title: 'max_bytes',
  async run(context) {
    const { session, maxBytes: size } = context
    if (!session) return NO_SESSION
    const largest = await context.call('PUT', session.url, { body: new Uint8Array(size).fill(0x61), headers: { 'content-type': 'application/octet-stream' } })
    if (!(largest instanceof Error) && largest.status === 202) {
      context.currentEtag = largest.headers.get('etag') ?? context.currentEtag
      return pass(`a ${size}-byte write was accepted`)
    }
    if (!(largest instanceof Error) && largest.status === 413 && !largest.text.includes('M_TOO_LARGE')) {
      return fail(`a ${size}-byte write (the advertised max_bytes) was refused by something other than the server: ${largest.text.slice(0, 80)}`, 'body-limit')
    }
    return fail(`a ${size}-byte write ${failed(largest)}`)
  },
}
