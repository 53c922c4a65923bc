/**
 * @module The `fill` scenario: rendezvous created and kept: server (and Redis) memory per live
 * rendezvous. Its load is `fill.ts`.
 */

import { intOption } from '../cli.ts'
import { round } from '../meter.ts'
import { redisUsedMemory } from '../redis-info.ts'
import { runFill } from './fill.ts'
import { type Report, type Scenario, type ScenarioContext, withProgress, type Figures } from './shape.ts'

export const fillScenario: Scenario = {
  name: 'fill',
  async run(context: ScenarioContext): Promise<Report> {
    const { args, target, config, machine, payloadBytes } = context
    const rendezvous = intOption(args, 'rendezvous', 100_000, 1)
    const connections = intOption(args, 'connections', 64, 1)
    const redisUrl = target.redisUrl
    const options = { rendezvous, payloadBytes, connections, redisMemory: redisUrl ? () => redisUsedMemory(redisUrl) : null }
    Object.assign(config, { rendezvous, connections })
    const outcome = await withProgress('fill', () => runFill(target.url, options, target.processes[0] ?? null))
    const result = outcome.recorder.result()
    const figures: Figures = { rendezvous, 'creates/s': round(rendezvous / result.elapsedSeconds), errors: result.errorCount }
    if (outcome.bytesPerRendezvous !== null) {
      figures['server bytes per live rendezvous'] = Math.round(outcome.bytesPerRendezvous)
      figures['server rss with all live (MiB)'] = round(outcome.rssAfterBytes! / 2 ** 20)
    }
    if (outcome.redisBytesPerRendezvous !== null) figures['redis bytes per live rendezvous'] = Math.round(outcome.redisBytesPerRendezvous)
    return { scenario: 'fill', config, machine, result, figures }
  },
}
