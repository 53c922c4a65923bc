/**
 * @module The process entry point: the only place that reads the environment and argv, touches
 * Bun's server, listens, and handles signals.
 */

import { MemoryStore } from '@rendezvous/store'
import { createApp, listenOptions } from './app.ts'
import { loadConfig } from './config.ts'
import { stderrLogger as logger } from './log.ts'

/** Time given to requests in flight on shutdown before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000

const loaded = loadConfig(process.env, process.argv.slice(2))
if (loaded.kind === 'help') {
  console.log(loaded.text)
  process.exit(0)
}
if (loaded.kind === 'error') {
  console.error(`rendezvous: ${loaded.message}`)
  process.exit(2)
}
const { config } = loaded

const store = new MemoryStore({
  ttlMs: config.ttlSeconds * 1000,
  maxSessions: config.maxSessions,
  maxTotalBytes: config.maxTotalBytes,
})
const draining = new AbortController()
const app = createApp({ store, config, logger, shutdownSignal: draining.signal })
app.listen(listenOptions(config))
logger.log('info', 'listening', {
  url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${app.server?.port}${config.prefix}`,
  store: store.name,
  ttl_seconds: config.ttlSeconds,
  max_bytes: config.maxBytes,
})

let stopping = false
async function shutdown(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  logger.log('info', 'shutting down', { signal })
  setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref()
  // Answer held long-polls now, then let requests in flight finish.
  draining.abort()
  await app.stop()
  await store.close()
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
