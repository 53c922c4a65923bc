import { type Check, fail, pass, skip } from '../check.ts'
import { msc4388Path } from './msc4388.ts'

/** Deletes every rendezvous the run created: the doctor leaves nothing behind. */
export const cleanup: Check = {
  id: 'cleanup',
  title: 'cleanup',
  async run(context) {
    const targets = [...context.cleanup, ...(context.msc4388Session ? [`${msc4388Path(context)}/${context.msc4388Session.id}`] : [])]
    const answers = await Promise.all(targets.map((url) => context.call('DELETE', url)))
    if (!context.session) return skip('no rendezvous to check with')
    const left = targets.filter((_, i) => {
      const answer = answers[i]!
      return answer instanceof Error || (answer.status !== 204 && answer.status !== 200)
    })
    return left.length === 0 ? pass(`deleted the ${targets.length} rendezvous it created`) : fail(`could not delete ${left.join(', ')}`)
  },
}
