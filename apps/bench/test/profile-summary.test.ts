import { describe, expect, it } from 'vitest'
import { type CpuProfile, profileTable, summarizeProfile } from '../src/profile-summary.ts'

const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber })

// Three frames: native code, one of our handlers, one Elysia frame; sampled 50/30/20 µs-weighted.
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('', '') },
    { id: 2, callFrame: frame('read', '/repo/apps/server/src/dialects/root.ts', 39) },
    { id: 3, callFrame: frame('handle', '/repo/node_modules/elysia/dist/index.mjs', 4) },
  ],
  samples: [1, 2, 1, 3, 2],
  timeDeltas: [25, 10, 25, 20, 20],
}

describe('profile summary', () => {
  it('splits self time by origin and by function, weighted by the time each sample stands for', () => {
    const summary = summarizeProfile(profile)
    expect(summary.totalMs).toBeCloseTo(0.1)
    expect(summary.byOrigin).toEqual([
      ['native (HTTP, sockets, builtins)', 0.5],
      ['ours', 0.3],
      ['elysia', 0.2],
    ])
    expect(summary.byFunction[1]).toEqual(['read dialects/root.ts:40', 0.3])
  })

  it('prints shares as percentages, largest first', () => {
    const table = profileTable(summarizeProfile(profile), 2)
    expect(table).toContain(' 50.0%  native (HTTP, sockets, builtins)')
    expect(table).toContain('top 2 functions:')
    expect(table).not.toContain('handle')
  })
})
