/**
 * @module `RENDEZVOUS_WORKERS=N`: this process starts N server processes that share the port
 * (`reusePort`, so the kernel spreads connections over them) and serves nothing itself. It keeps
 * them answering: a worker that stops answering its liveness check (stopped, or stuck) is killed
 * and replaced, one that dies is restarted with back-off, and workers that keep dying make the
 * supervisor give up and exit non-zero, so systemd or Kubernetes see the failure. SIGTERM is
 * passed on and bounded: a worker still there after drain + grace is killed. SIGHUP asks every
 * worker to reload what can be reloaded. Workers share state only through the store, which must
 * therefore be shared (Redis). Supervisor and workers talk over an IPC channel; a worker whose
 * supervisor is gone (even killed with SIGKILL) sees the channel close, drains and exits.
 *
 * The supervisor serves the metrics listener: a scrape asks every worker for its families over the
 * channel and answers with their combination, so counters are the group's sums. A worker that
 * exits leaves its last reported counters behind (kept and added in), so the group's counters never
 * go backwards; what it counted after its last report is lost with it.
 */

import { type MetricsListen, environmentForWorkers } from './config.ts'
import type { Logger } from './log.ts'
import { type Family, combineFamilies, cumulativeOnly } from './metric-families.ts'
import { type MetricsListener, serveMetrics } from './metrics-listener.ts'
import { processFamilies } from './process-facts.ts'

/** Set in a worker's environment: which worker it is. The supervisor never sets it for itself. */
export const WORKER_INDEX_ENV = 'RENDEZVOUS_WORKER_INDEX'

/** How often each listening worker is asked whether it still answers. */
const LIVENESS_INTERVAL_MS = 1000
/** A listening worker silent this long is stuck (or stopped) and is replaced. */
const LIVENESS_TIMEOUT_MS = 3000
/** A worker that has not started listening this long after its start is replaced. */
const STARTUP_TIMEOUT_MS = 30_000
/** Worker exits counted for the crash loop, over this window. */
const CRASH_LOOP_WINDOW_MS = 60_000
/** More worker exits than this within the window, and the supervisor gives up (exit 1). */
const CRASH_LOOP_MAX_EXITS = 5
const MAX_RESTART_DELAY_MS = 10_000
/** After drain + grace, how long a worker that has not exited is given before SIGKILL. */
const STOP_MARGIN_MS = 2000

/** How long a scrape waits for each worker's families before using the last it had. */
const SCRAPE_TIMEOUT_MS = 2000

/** What a supervisor sends a worker. */
export type ToWorker = { readonly type: 'ping' } | { readonly type: 'reload' } | { readonly type: 'metrics'; readonly scrape: number }
/** What a worker sends its supervisor. */
export type ToSupervisor =
  | { readonly type: 'listening' }
  | { readonly type: 'pong' }
  | { readonly type: 'metrics'; readonly scrape: number; readonly families: Family[] }

export interface SupervisorOptions {
  readonly workers: number
  /** The port every worker listens on (chosen here when the configuration said 0). */
  readonly port: number
  /** What a worker's shutdown may take: after it, a worker still running is killed. */
  readonly stopTimeoutMs: number
  readonly logger: Logger
  /** Flushes the log before the supervisor exits. */
  readonly flush: () => void
  /** Where the group's metrics are served. */
  readonly metricsListen: MetricsListen
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

interface Worker {
  readonly process: ReturnType<typeof Bun.spawn>
  readonly startedAt: number
  /** When it last answered (or started listening); null until it listens. */
  answeredAt: number | null
  /** Set once it has been killed for not answering, so it is killed once. */
  killed: boolean
  /** What it last reported, for a scrape it does not answer in time and for after it exits. */
  families: Family[]
  /** Waiting for its answer to the scrape with this number. */
  pendingScrape: { readonly scrape: number; readonly resolve: () => void } | null
}

export function supervise({ workers, port, stopTimeoutMs, logger, flush, metricsListen }: SupervisorOptions): void {
  const command = selfCommand()
  const environment = { ...environmentForWorkers(process.env, process.argv.slice(2)), PORT: String(port) }
  const running = new Map<number, Worker>()
  const restarts = new Map<number, number[]>()
  /** Unexpected exits of any worker, for the crash loop. */
  const exits: number[] = []
  let stopping = false
  let exitCode = 0
  /** The counters of workers that have exited, kept so the group's sums never go backwards. */
  let retired: Family[] = []
  let restartCount = 0
  let scrapes = 0

  const exit = () => {
    flush()
    process.exit(exitCode)
  }

  function start(index: number): void {
    const child = Bun.spawn(command, {
      env: { ...environment, [WORKER_INDEX_ENV]: String(index) },
      stdio: ['ignore', 'inherit', 'inherit'],
      serialization: 'json',
      ipc(message: ToSupervisor) {
        const worker = running.get(index)
        if (worker?.process !== child) return
        if (message.type === 'pong' || message.type === 'listening') worker.answeredAt = performance.now()
        if (message.type === 'metrics') {
          worker.families = message.families
          if (worker.pendingScrape?.scrape === message.scrape) worker.pendingScrape.resolve()
        }
      },
    })
    running.set(index, { process: child, startedAt: performance.now(), answeredAt: null, killed: false, families: [], pendingScrape: null })
    child.exited.then((code) => {
      const worker = running.get(index)
      if (worker?.process === child) {
        running.delete(index)
        retired = combineFamilies([retired, cumulativeOnly(worker.families)])
        worker.pendingScrape?.resolve()
      }
      if (stopping) {
        if (running.size === 0) {
          logger.log('info', 'all workers stopped')
          exit()
        }
        return
      }
      const now = Date.now()
      exits.push(now)
      while (exits.length > 0 && now - exits[0]! > CRASH_LOOP_WINDOW_MS) exits.shift()
      if (exits.length > CRASH_LOOP_MAX_EXITS) {
        logger.log('error', 'workers keep exiting; giving up', { exits: exits.length, window_seconds: CRASH_LOOP_WINDOW_MS / 1000, last_exit_code: code })
        exitCode = 1
        return stop('crash loop')
      }
      const recent = (restarts.get(index) ?? []).filter((at) => now - at < CRASH_LOOP_WINDOW_MS)
      recent.push(now)
      restarts.set(index, recent)
      const delay = Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (recent.length - 1))
      restartCount++
      logger.log('warn', 'worker exited; restarting', { worker: index, exit_code: code, signal: child.signalCode, restart_in_ms: delay })
      setTimeout(() => !stopping && start(index), delay)
    })
  }

  /** Asks every worker whether it answers; kills the ones that have not for too long. */
  function checkLiveness(): void {
    const now = performance.now()
    for (const [index, worker] of running) {
      if (worker.killed) continue
      const silentFor = now - (worker.answeredAt ?? worker.startedAt)
      const limit = worker.answeredAt === null ? STARTUP_TIMEOUT_MS : LIVENESS_TIMEOUT_MS
      if (silentFor > limit) {
        worker.killed = true
        logger.log('warn', worker.answeredAt === null ? 'worker did not start listening; replacing it' : 'worker stopped answering; replacing it', {
          worker: index,
          pid: worker.process.pid,
          silent_ms: Math.round(silentFor),
        })
        worker.process.kill('SIGKILL')
        continue
      }
      if (worker.answeredAt !== null) send(worker, { type: 'ping' })
    }
  }
  const liveness = setInterval(checkLiveness, LIVENESS_INTERVAL_MS)

  function send(worker: Worker, message: ToWorker): void {
    try {
      worker.process.send(message)
    } catch {
      // The worker is exiting; its exit handler takes over.
    }
  }

  /** One scrape: every listening worker's families, fresh where it answers in time, and the retired counters. */
  async function groupFamilies(): Promise<Family[]> {
    const scrape = ++scrapes
    const asked = [...running.values()].filter((worker) => worker.answeredAt !== null && !worker.killed)
    await Promise.all(
      asked.map(
        (worker) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, SCRAPE_TIMEOUT_MS)
            worker.pendingScrape = {
              scrape,
              resolve: () => {
                clearTimeout(timer)
                resolve()
              },
            }
            send(worker, { type: 'metrics', scrape })
          }),
      ),
    )
    for (const worker of asked) if (worker.pendingScrape?.scrape === scrape) worker.pendingScrape = null
    const own: Family[] = [
      {
        name: 'rendezvous_workers',
        type: 'gauge',
        help: 'Worker processes running under the supervisor.',
        combine: 'sum',
        samples: [{ suffix: '', labels: '', value: running.size }],
      },
      {
        name: 'rendezvous_worker_restarts_total',
        type: 'counter',
        help: 'Workers the supervisor restarted after they exited or stopped answering.',
        combine: 'sum',
        samples: [{ suffix: '', labels: '', value: restartCount }],
      },
      ...processFamilies(),
    ]
    // Workers that exited still count: their last figures are in `retired`.
    return combineFamilies([...[...running.values()].map((worker) => worker.families), retired, own])
  }

  let metrics: MetricsListener | null = null
  if (metricsListen.kind === 'listen') {
    try {
      metrics = serveMetrics(metricsListen, groupFamilies)
      logger.log('info', 'metrics listening', { url: metrics.url })
    } catch (error) {
      logger.log('error', 'cannot serve metrics', { listen: `${metricsListen.host}:${metricsListen.port}`, detail: (error as Error).message })
      flush()
      process.exit(2)
    }
  }

  for (let index = 0; index < workers; index++) start(index)
  logger.log('info', 'supervising workers', { workers, port })

  function stop(reason: string): void {
    if (stopping) return
    stopping = true
    clearInterval(liveness)
    metrics?.stop()
    logger.log('info', 'stopping workers', { reason, workers: running.size })
    for (const worker of running.values()) worker.process.kill('SIGTERM')
    if (running.size === 0) {
      exit()
      return
    }
    // A worker that cannot finish its shutdown (stopped, stuck) must not hold the supervisor forever.
    setTimeout(() => {
      logger.log('warn', 'workers still running after their shutdown time; killing them', { workers: running.size })
      for (const worker of running.values()) worker.process.kill('SIGKILL')
      setTimeout(exit, 500)
    }, stopTimeoutMs + STOP_MARGIN_MS).unref()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGHUP', () => {
    logger.log('info', 'reloading workers', { workers: running.size })
    for (const worker of running.values()) send(worker, { type: 'reload' })
  })
}

/**
 * A worker's side of the channel: answers liveness checks, says when it listens, and calls
 * `onReload` and `onSupervisorGone`. Returns null when this process has no supervisor.
 */
export function workerChannel(handlers: {
  onReload: () => void
  onSupervisorGone: () => void
  families: () => Promise<Family[]>
}): { listening(): void } | null {
  const send = process.send?.bind(process)
  if (send === undefined) return null
  process.on('message', (message: ToWorker) => {
    if (message.type === 'ping') send({ type: 'pong' } satisfies ToSupervisor)
    else if (message.type === 'reload') handlers.onReload()
    else if (message.type === 'metrics') {
      void handlers.families().then(
        (families) => send({ type: 'metrics', scrape: message.scrape, families } satisfies ToSupervisor),
        () => {},
      )
    }
  })
  process.on('disconnect', handlers.onSupervisorGone)
  return { listening: () => void send({ type: 'listening' } satisfies ToSupervisor) }
}
