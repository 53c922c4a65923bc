/**
 * @module The real entry point as its own process, exactly as `bun run server` starts it: for tests
 * of start-up, signals and everything else only a whole process shows.
 */

import { resolve } from 'node:path'
import { freePort } from '@rendezvous/store/testing/redis'

const MAIN = resolve(import.meta.dirname, '../src/main.ts')

export type ServerProcess = ReturnType<typeof spawnMain>

/**
 * Starts `main.ts` with `args`; stdout is discarded, stderr piped (the JSON log). The metrics
 * listener is off unless `env` asks for one (its default address would be shared by every test
 * process); see `freeMetricsListen`.
 */
export function spawnMain(args: readonly string[], env: Record<string, string> = {}) {
  return Bun.spawn([process.execPath, MAIN, ...args], { env: { ...process.env, RENDEZVOUS_METRICS_LISTEN: 'off', ...env }, stdout: 'pipe', stderr: 'pipe' })
}

/** A free loopback port for a metrics listener: `{ RENDEZVOUS_METRICS_LISTEN, url }`. */
export async function freeMetricsListen(): Promise<{ readonly RENDEZVOUS_METRICS_LISTEN: string; readonly url: string }> {
  const port = await freePort()
  return { RENDEZVOUS_METRICS_LISTEN: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}/metrics` }
}

/**
 * Reads the log on `stderr` until the `listening` line and returns the URL it names; the rest of
 * the log is drained in the background so the process never blocks on a full pipe, each later line
 * going to `onLaterLine` when given. Gives up after `timeoutMs` (the process may be logging above
 * info, or stuck).
 */
export async function listeningUrl(stderr: ReadableStream<Uint8Array>, timeoutMs = 15_000, onLaterLine?: (line: string) => void): Promise<string> {
  const decoder = new TextDecoder()
  const reader = stderr.getReader()
  let text = ''
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no "listening" line within ${timeoutMs} ms: ${text}`)), timeoutMs)
  })
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), timeout])
      if (done) break
      text += decoder.decode(value)
      const lines = text.split('\n')
      const at = lines.findIndex((l) => l.includes('"listening"'))
      if (at >= 0 && at < lines.length - 1) {
        let rest = lines.slice(at + 1).join('\n')
        const emit = () => {
          const complete = rest.split('\n')
          rest = complete.pop()!
          for (const later of complete) onLaterLine?.(later)
        }
        emit()
        void (async () => {
          for (;;) {
            const { done, value } = await reader.read()
            if (done) break
            rest += decoder.decode(value)
            emit()
          }
        })().catch(() => {})
        return (JSON.parse(lines[at]!) as { url: string }).url
      }
    }
  } finally {
    clearTimeout(timer)
  }
  throw new Error(`server exited before listening: ${text}`)
}

/** The JSON log lines of a process as they arrive. */
export function logLines(stream: ReadableStream<Uint8Array>) {
  const lines: Record<string, unknown>[] = []
  let buffered = ''
  const decoder = new TextDecoder()
  const reader = stream.getReader()
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      buffered += decoder.decode(value)
      const parts = buffered.split('\n')
      buffered = parts.pop()!
      for (const part of parts) if (part.startsWith('{')) lines.push(JSON.parse(part) as Record<string, unknown>)
    }
  })()
  return {
    /** Every line so far. */
    get lines(): readonly Record<string, unknown>[] {
      return lines
    },
    async until(predicate: (all: Record<string, unknown>[]) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>[]> {
      const deadline = Date.now() + timeoutMs
      while (!predicate(lines)) {
        if (Date.now() > deadline) throw new Error(`log condition not met: ${JSON.stringify(lines)}`)
        await Bun.sleep(20)
      }
      return lines
    },
  }
}
