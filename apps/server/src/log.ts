/**
 * @module Structured logging: one JSON object per line. Callers pass facts, never payloads or whole
 * rendezvous ids (ids are bearer secrets): `idHash` gives a short stand-in that correlates lines
 * without revealing the id.
 */

import type { LogLevel } from './config.ts'

export type { LogLevel }

export interface Logger {
  /** True when a message at `level` would be written; lets hot paths skip building fields. */
  enabled(level: Exclude<LogLevel, 'off'>): boolean
  log(level: Exclude<LogLevel, 'off'>, message: string, fields?: Record<string, unknown>): void
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, off: 100 }

/** A logger writing JSON lines at `level` and above to `write` (e.g. a buffered stderr sink). */
export function jsonLogger(level: LogLevel, write: (line: string) => void): Logger {
  const threshold = RANK[level]
  return {
    enabled: (l) => RANK[l] >= threshold,
    log(l, message, fields) {
      if (RANK[l] < threshold) return
      write(`${JSON.stringify({ time: new Date().toISOString(), level: l, msg: message, ...fields })}\n`)
    },
  }
}

export const stderrLogger: Logger = jsonLogger('info', (line) => process.stderr.write(line))
export const silentLogger: Logger = jsonLogger('off', () => {})

const SALT = crypto.getRandomValues(new Uint32Array(1))[0]!

/**
 * 8 hex characters standing for a rendezvous id in logs: the same id gives the same hash within
 * one process, so its requests can be followed, but 32 bits of a salted hash of a 128-bit random id
 * cannot be turned back into the id.
 */
export function idHash(id: string): string {
  // FNV-1a, seeded with a per-process salt.
  let hash = (0x811c9dc5 ^ SALT) >>> 0
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash.toString(16).padStart(8, '0')
}
