/**
 * @module Where the bench puts each process on a two-core machine, in one place: the server side
 * (servers, comparisons, the Redis the bench starts) on one core, the load generator on the other,
 * so neither steals the other's time and CPU per request is the server's alone.
 */

/** The core of the servers, the comparison servers and the bench's own redis-server. */
export const SERVER_CPU = 0
/** The core of the bench itself (and of wrk in `wrk-check`). */
export const CLIENT_CPU = 1

/** Pins this process to `cpu` (taskset); a machine without taskset runs unpinned. */
export function pinSelf(cpu: number): void {
  Bun.spawnSync(['taskset', '-cp', String(cpu), String(process.pid)], { stdout: 'ignore', stderr: 'ignore' })
}
