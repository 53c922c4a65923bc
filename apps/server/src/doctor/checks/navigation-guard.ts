import { type Check, fail, pass, skip } from '../check.ts'
import { failed } from '../context.ts'
import { msc4388Path } from './msc4388.ts'

/** The navigation guard must still see Sec-Fetch-*: a rendezvous opened as a page shows nothing. */
export const navigationGuard: Check = {
  id: 'navigation-guard',
  title: 'navigation guard (Sec-Fetch-*)',
  async run(context) {
    const id = context.msc4388Session?.id ?? context.session?.id
    if (!id || !context.routed.msc4388) return skip('no rendezvous to look at')
    const navigation = await context.call('GET', `${msc4388Path(context)}/${id}`, {
      headers: { 'sec-fetch-dest': 'document', 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'none', 'sec-fetch-user': '?1' },
    })
    if (!(navigation instanceof Error) && navigation.status === 403) return pass('a browser navigation is refused with 403')
    if (!(navigation instanceof Error) && navigation.status === 200) {
      return fail('a request that looks like a browser navigation got the data: Sec-Fetch-* did not reach the server', 'sec-fetch-stripped')
    }
    return fail(`${msc4388Path(context)}/{id} ${failed(navigation)}`, 'not-routed')
  },
}
