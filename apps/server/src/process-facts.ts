/**
 * @module The `process_*` families every Prometheus user expects (CPU, memory, descriptors, start
 * time), read from the process itself and from `/proc` where Linux has it. Long-polls hold a
 * descriptor each, so open descriptors against their limit is the figure to watch.
 */

import { readFileSync, readdirSync } from 'node:fs'
import type { Family } from './metric-families.ts'

/** When this process started, in seconds since the epoch: what a deploy annotation marks. */
const STARTED_AT_SECONDS = Math.round((Date.now() / 1000 - process.uptime()) * 1000) / 1000

export function processFamilies(): Family[] {
  const cpu = process.cpuUsage()
  const memory = process.memoryUsage()
  const families: Family[] = [
    {
      name: 'process_cpu_seconds_total',
      type: 'counter',
      help: 'User and system CPU time spent, in seconds.',
      combine: 'sum',
      samples: [{ suffix: '', labels: '', value: (cpu.user + cpu.system) / 1e6 }],
    },
    {
      name: 'process_resident_memory_bytes',
      type: 'gauge',
      help: 'Resident memory size in bytes (summed over the processes of a group).',
      combine: 'sum',
      samples: [{ suffix: '', labels: '', value: memory.rss }],
    },
    {
      name: 'process_start_time_seconds',
      type: 'gauge',
      help: 'Start time of the process since the epoch, in seconds (of the oldest, for a group).',
      combine: 'min',
      samples: [{ suffix: '', labels: '', value: STARTED_AT_SECONDS }],
    },
    {
      name: 'rendezvous_js_heap_used_bytes',
      type: 'gauge',
      help: 'JavaScript heap in use, in bytes (summed over the processes of a group).',
      combine: 'sum',
      samples: [{ suffix: '', labels: '', value: memory.heapUsed }],
    },
  ]
  const openFds = openDescriptors()
  if (openFds !== null) {
    families.push({
      name: 'process_open_fds',
      type: 'gauge',
      help: 'Open file descriptors (of the process holding most, for a group).',
      combine: 'max',
      samples: [{ suffix: '', labels: '', value: openFds }],
    })
  }
  const maxFds = descriptorLimit()
  if (maxFds !== null) {
    families.push({
      name: 'process_max_fds',
      type: 'gauge',
      help: 'Limit on open file descriptors of one process.',
      combine: 'max',
      samples: [{ suffix: '', labels: '', value: maxFds }],
    })
  }
  return families
}

function openDescriptors(): number | null {
  try {
    // The listing itself holds one descriptor while it reads.
    return Math.max(0, readdirSync('/proc/self/fd').length - 1)
  } catch {
    return null
  }
}

function descriptorLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'))
    const soft = line?.split(/\s{2,}/)[1]
    return soft === undefined || soft === 'unlimited' ? null : Number(soft)
  } catch {
    return null
  }
}
