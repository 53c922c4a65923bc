import { type Check, fail, pass } from '../check.ts'

/** A streamed part may take this long to pass before the doctor calls it held back. */
const STREAM_LATE_MS = 500

/** The probe sends a part at once and another a second later: the first must arrive at once. */
export const unbuffered: Check = {
  id: 'unbuffered',
  title: 'answers pass unbuffered',
  async run(context) {
    const probeUrl = `${context.base}_rendezvous/probe`
    try {
      const started = performance.now()
      const probe = await context.stream(probeUrl)
      if (probe.status !== 200) {
        await probe.body?.cancel()
        const redirect = probe.status >= 300 && probe.status < 400 ? `, a redirect to ${probe.headers.get('location') ?? '(no Location)'}, not followed` : ''
        return fail(`${probeUrl} answered ${probe.status}${redirect}`, 'not-routed')
      }
      const reader = probe.body!.getReader()
      await reader.read()
      const firstPartMs = performance.now() - started
      while (!(await reader.read()).done);
      const encoding = probe.headers.get('content-encoding')
      if (firstPartMs > STREAM_LATE_MS) {
        return fail(
          `the probe's first part, sent at once, arrived after ${Math.round(firstPartMs)} ms${encoding ? ` (compressed: ${encoding})` : ''}`,
          encoding ? 'compression' : 'buffering',
        )
      }
      return pass(`first part after ${Math.round(firstPartMs)} ms`)
    } catch (error) {
      return fail(`${probeUrl}: ${(error as Error).message}`, 'not-routed')
    }
  },
}
