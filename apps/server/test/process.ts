/**
 * @module The real entry point as its own process, exactly as `bun run server` starts it: for tests
 * of start-up, signals and everything else only a whole process shows.
 */

import { resolve } from 'node:path'

const MAIN = resolve(import.meta.dirname, '../src/main.ts')

export type ServerProcess = ReturnType<typeof spawnMain>

/** Starts `main.ts` with `args`; stdout is discarded, stderr piped (the JSON log). */
export function spawnMain(args: readonly string[], env: Record<string, string> = {}) {
  return Bun.spawn([process.execPath, MAIN, ...args], { env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe' })
}

/**
 * Reads the log on `stderr` until the `listening` line and returns the URL it names; the rest of
 * the log is drained in the background so the process never blocks on a full pipe. Gives up after
 * `timeoutMs` (the process may be logging above info, or stuck).
 */
export async function listeningUrl(stderr: ReadableStream<Uint8Array>, timeoutMs = 15_000): Promise<string> {
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
      const line = text.split('\n').find((l) => l.includes('"listening"'))
      if (line) {
        void (async () => {
          while (!(await reader.read()).done);
        })().catch(() => {})
        return (JSON.parse(line) as { url: string }).url
      }
    }
  } finally {
    clearTimeout(timer)
  }
  throw new Error(`server exited before listening: ${text}`)
}
