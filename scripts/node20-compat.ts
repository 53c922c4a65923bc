/**
 * @module Loaded (with `tsx --import`) before vitest when the protocol and store suites run under
 * Node 20: vitest 5's reporter groups a failed test's attempts with `Map.groupBy`, which Node gained
 * only in 21, so on 20 a failing test would crash the report instead of being counted. Nothing of
 * the packages under test depends on it.
 */

type GroupBy = <K, T>(items: Iterable<T>, key: (item: T, index: number) => K) => Map<K, T[]>

const MapWithGroupBy = Map as unknown as { groupBy?: GroupBy }
if (typeof MapWithGroupBy.groupBy !== 'function') {
  MapWithGroupBy.groupBy = <K, T>(items: Iterable<T>, key: (item: T, index: number) => K): Map<K, T[]> => {
    const groups = new Map<K, T[]>()
    let index = 0
    for (const item of items) {
      const k = key(item, index++)
      const group = groups.get(k)
      if (group) group.push(item)
      else groups.set(k, [item])
    }
    return groups
  }
}
