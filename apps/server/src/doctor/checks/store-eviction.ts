import { type Check, fail, pass, skip } from '../check.ts'

/** With Redis: its `maxmemory-policy`, which must keep every live rendezvous (`noeviction`). */
export const storeEviction: Check = {
  id: 'store-eviction',
  title: 'Redis keeps live rendezvous',
  run({ info }) {
    const policy = info?.store_eviction_policy
    if (info?.store !== 'redis' || policy === undefined) return null
    if (policy === 'noeviction') return pass('maxmemory-policy noeviction')
    if (policy === null) return skip('the server has not heard its Redis say its maxmemory-policy yet')
    return fail(
      `Redis's maxmemory-policy is ${policy}: under memory pressure it drops live rendezvous (logins fail) and the capacity counters; set maxmemory-policy noeviction in redis.conf (or CONFIG SET maxmemory-policy noeviction, or your provider's parameter group)`,
    )
  },
}
