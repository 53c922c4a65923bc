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
 * the log is drained in the background so the process never blocks on a full pipe.
 */
export async function listeningUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder()
  const reader = stderr.getReader()
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
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
  throw new Error(`server exited before listening: ${text}`)
}
