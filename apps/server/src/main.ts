/**
 * @module The process entry point: the only place that reads the environment and argv, touches
 * Bun's server and stderr, listens, and handles signals.
 */

import { MemoryStore } from '@rendezvous/store'
import { createApp, listenOptions } from './app.ts'
import { readFileSync } from 'node:fs'
import { loadConfig, parseTokenFile } from './config.ts'
import { jsonLogger } from './log.ts'

/** How often buffered log lines reach stderr. */
const LOG_FLUSH_MS = 100

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

let createTokens: ReadonlySet<string> | null = null
if (config.createAuth.kind === 'file') {
  try {
    createTokens = parseTokenFile(readFileSync(config.createAuth.path, 'utf8'))
  } catch (error) {
    console.error(`rendezvous: invalid RENDEZVOUS_CREATE_AUTH ${JSON.stringify(config.createAuth.path)}: ${(error as Error).message}`)
    process.exit(2)
  }
}

// One log line per request is cheap only when buffered: lines collect in a sink flushed every 100 ms.
const stderr = Bun.stderr.writer()
const flushLogs = setInterval(() => stderr.flush(), LOG_FLUSH_MS)
flushLogs.unref()
const logger = jsonLogger(config.logLevel, (line) => void stderr.write(line))

const store = new MemoryStore({
  ttlMs: config.ttlSeconds * 1000,
  maxSessions: config.maxSessions,
  maxTotalBytes: config.maxTotalBytes,
})
const draining = new AbortController()
const app = createApp({ store, config, logger, shutdownSignal: draining.signal, createTokens })
app.listen(listenOptions(config))
logger.log('info', 'listening', {
  url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${app.server?.port}${config.prefix}`,
  store: store.name,
  ttl_seconds: config.ttlSeconds,
  max_bytes: config.maxBytes,
})
stderr.flush()

let stopping = false
async function shutdown(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  logger.log('info', 'shutting down', { signal, grace_seconds: config.shutdownGraceSeconds })
  const exit = () => {
    stderr.flush()
    process.exit(0)
  }
  setTimeout(exit, config.shutdownGraceSeconds * 1000).unref()
  // Answer held long-polls now and report draining, then stop accepting and let requests in
  // flight finish.
  draining.abort()
  await app.stop()
  await store.close()
  exit()
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
