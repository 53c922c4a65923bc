/**
 * @module `bench profile FILE.cpuprofile`: self time from a `bun --cpu-prof` profile, by where the
 * code lives (native, Elysia, ours, other) and by function, so "where does the time go" is one
 * command instead of a trip through a profile viewer.
 */

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

/** The parts of the Chrome DevTools profile format that Bun writes and this summary reads. */
export interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: CallFrame }[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

export interface ProfileSummary {
  readonly totalMs: number
  /** Share of self time (0-1) by where the code lives, largest first. */
  readonly byOrigin: readonly (readonly [string, number])[]
  /** Share of self time (0-1) by function, largest first. */
  readonly byFunction: readonly (readonly [string, number])[]
}

/** Where a frame's code lives: our packages, Elysia, native code (no script), or another script. */
function originOf(frame: CallFrame): string {
  if (frame.url === '') return 'native (HTTP, sockets, builtins)'
  if (frame.url.includes('node_modules/elysia/')) return 'elysia'
  if (frame.url.includes('/apps/server/') || frame.url.includes('/packages/')) return 'ours'
  return 'other scripts'
}

function labelOf(frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  if (frame.url === '') return name
  return `${name} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`
}

export function summarizeProfile(profile: CpuProfile): ProfileSummary {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const byOrigin = new Map<string, number>()
  const byFunction = new Map<string, number>()
  let total = 0
  profile.samples.forEach((nodeId, i) => {
    const frame = frames.get(nodeId)
    const micros = profile.timeDeltas[i] ?? 0
    if (!frame) return
    total += micros
    const origin = originOf(frame)
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + micros)
    const label = labelOf(frame)
    byFunction.set(label, (byFunction.get(label) ?? 0) + micros)
  })
  const shares = (map: Map<string, number>) => [...map].map(([key, micros]) => [key, total === 0 ? 0 : micros / total] as const).sort((a, b) => b[1] - a[1])
  return { totalMs: total / 1000, byOrigin: shares(byOrigin), byFunction: shares(byFunction) }
}

export function profileTable(summary: ProfileSummary, functions = 20): string {
  const percent = (share: number) => `${(100 * share).toFixed(1).padStart(5)}%`
  return [
    `self time sampled: ${summary.totalMs.toFixed(0)} ms`,
    '',
    'by origin:',
    ...summary.byOrigin.map(([origin, share]) => `  ${percent(share)}  ${origin}`),
    '',
    `top ${functions} functions:`,
    ...summary.byFunction.slice(0, functions).map(([label, share]) => `  ${percent(share)}  ${label}`),
  ].join('\n')
}
