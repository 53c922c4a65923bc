/**
 * @module `RENDEZVOUS_WORKERS=N`: this process starts N server processes that share the port
 * (`reusePort`, so the kernel spreads connections over them), restarts any that dies, and on
 * SIGTERM passes the signal on and waits for all of them to drain and exit. It serves nothing
 * itself. Workers share state only through the store, which must therefore be shared (Redis).
 */

import { environmentForWorkers } from './config.ts'
import type { Logger } from './log.ts'

/** Set in a worker's environment: which worker it is. The supervisor never sets it for itself. */
export const WORKER_INDEX_ENV = 'RENDEZVOUS_WORKER_INDEX'

/** Restarts of one worker within this window count as a crash loop and are slowed down. */
const CRASH_WINDOW_MS = 10_000
const MAX_RESTART_DELAY_MS = 10_000

export interface SupervisorOptions {
  readonly workers: number
  /** The port every worker listens on (chosen here when the configuration said 0). */
  readonly port: number
  readonly logger: Logger
  /** Flushes the log before the supervisor exits. */
  readonly flush: () => void
}

/**
 * The command that starts this program again: `bun main.ts`, or the compiled binary alone. Its
 * settings travel in the environment (see `environmentForWorkers`), never in its arguments, where
 * `ps` would show any secret among them to every user.
 */
function selfCommand(): string[] {
  const compiled = Bun.main.startsWith('/$bunfs/') || Bun.main.startsWith('B:\\~BUN\\')
  return compiled ? [process.execPath] : [process.execPath, Bun.main]
}

export function supervise({ workers, port, logger, flush }: SupervisorOptions): void {
  const command = selfCommand()
  const environment = { ...environmentForWorkers(process.env, process.argv.slice(2)), PORT: String(port) }
  const running = new Map<number, ReturnType<typeof Bun.spawn>>()
  const restarts = new Map<number, number[]>()
  let stopping = false

  function start(index: number): void {
    const child = Bun.spawn(command, {
      env: { ...environment, [WORKER_INDEX_ENV]: String(index) },
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    running.set(index, child)
    child.exited.then((code) => {
      running.delete(index)
      if (stopping) {
        if (running.size === 0) {
          logger.log('info', 'all workers stopped')
          flush()
          process.exit(0)
        }
        return
      }
      const now = Date.now()
      const recent = (restarts.get(index) ?? []).filter((at) => now - at < CRASH_WINDOW_MS)
      recent.push(now)
      restarts.set(index, recent)
      const delay = Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (recent.length - 1))
      logger.log('warn', 'worker exited; restarting', { worker: index, exit_code: code, restart_in_ms: delay })
      setTimeout(() => !stopping && start(index), delay)
    })
  }

  for (let index = 0; index < workers; index++) start(index)
  logger.log('info', 'supervising workers', { workers, port })

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    logger.log('info', 'stopping workers', { signal, workers: running.size })
    for (const child of running.values()) child.kill(signal)
    if (running.size === 0) {
      flush()
      process.exit(0)
    }
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}
