/**
 * @module Structured logging: one JSON object per line on stderr. Callers pass facts, never
 * payloads or whole rendezvous ids (ids are bearer secrets).
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void
}

export const stderrLogger: Logger = {
  log(level, message, fields) {
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })}\n`)
  },
}

export const silentLogger: Logger = { log() {} }
