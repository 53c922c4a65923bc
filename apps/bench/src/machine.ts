/**
 * @module The machine and versions a run happened on, for the JSON report.
 */

import { readFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { resolve } from 'node:path'

export interface MachineInfo {
  readonly cpuModel: string
  readonly cores: number
  readonly memoryBytes: number
  readonly kernel: string
  readonly bun: string
  readonly serverVersion: string
  readonly date: string
}

export function machineInfo(): MachineInfo {
  const serverPackage = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../server/package.json'), 'utf8')) as { version: string }
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    kernel: release(),
    bun: Bun.version,
    serverVersion: serverPackage.version,
    date: new Date().toISOString(),
  }
}
