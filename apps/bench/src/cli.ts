/**
 * @module Command-line options of the bench: one table drives parsing and `--help`.
 */

export interface OptionSpec {
  readonly name: string
  /** Placeholder for the value, or null for a switch. */
  readonly value: string | null
  readonly default: string
  readonly help: string
  readonly scenarios: readonly string[]
}

const ALL = ['handshake', 'ops', 'hold', 'fill']

export const OPTIONS: readonly OptionSpec[] = [
  { name: 'url', value: 'URL', default: '', help: 'a running server to load (loopback only unless --allow-remote); default: spawn one', scenarios: ALL },
  { name: 'spawn', value: null, default: '', help: 'start our server for the run, stop it after, and report its RSS and CPU (the default)', scenarios: ALL },
  { name: 'server-arg', value: 'FLAGS', default: '', help: 'extra flags for the spawned server, e.g. "--ttl 60" (repeatable)', scenarios: ALL },
  { name: 'no-pin', value: null, default: '', help: 'do not pin the spawned server to CPU 0 and the bench to CPU 1', scenarios: ALL },
  { name: 'allow-remote', value: null, default: '', help: 'allow a --url that is not on loopback', scenarios: ALL },
  {
    name: 'store',
    value: 'NAME',
    default: 'memory',
    help: 'store of the spawned server: memory, or redis (the bench starts a redis-server unless --redis-url)',
    scenarios: ALL,
  },
  { name: 'redis-url', value: 'URL', default: '', help: 'with --store redis: use this Redis instead of starting one', scenarios: ALL },
  {
    name: 'instances',
    value: 'N',
    default: '1',
    help: 'server instances on one Redis (needs --store redis); handshakes put A and B on different instances, hold waits on one and writes on another',
    scenarios: ALL,
  },
  { name: 'payload-bytes', value: 'N', default: '1024', help: 'size of every payload written', scenarios: ALL },
  { name: 'json', value: 'FILE', default: '', help: 'write every figure, the configuration, versions and machine as JSON', scenarios: ALL },
  { name: 'html', value: 'FILE', default: '', help: 'write a self-contained HTML page with latency histograms and throughput over time', scenarios: ALL },
  { name: 'pairs', value: 'P', default: '100', help: 'closed loop: device pairs running handshakes back to back', scenarios: ['handshake'] },
  {
    name: 'rate',
    value: 'R',
    default: '',
    help: 'open loop: start R handshakes per second whatever earlier ones are doing (instead of --pairs)',
    scenarios: ['handshake'],
  },
  { name: 'handshakes', value: 'N', default: '', help: 'stop after N handshakes in all (default: run for --duration)', scenarios: ['handshake'] },
  { name: 'duration', value: 'S', default: '10 (ops: 5)', help: 'seconds to run (handshake: stop starting new ones)', scenarios: ['handshake', 'ops'] },
  { name: 'messages', value: 'N', default: '1', help: 'B-to-A and A-to-B exchanges per handshake', scenarios: ['handshake'] },
  { name: 'poll-interval', value: 'MS', default: '1000', help: 'how often a waiting device polls with If-None-Match', scenarios: ['handshake'] },
  { name: 'long-poll', value: null, default: '', help: 'wait with Prefer: wait instead of polling', scenarios: ['handshake'] },
  { name: 'wait', value: 'S', default: '30', help: 'Prefer: wait=S sent with long-polls', scenarios: ['handshake', 'hold'] },
  {
    name: 'connections',
    value: 'C',
    default: 'ops/fill: 64; handshake: per device side, 2 per pair up to 2000 (long-poll 1 per pair + 10%, open loop 256)',
    help: 'keep-alive connections to the server',
    scenarios: ['handshake', 'ops', 'fill'],
  },
  {
    name: 'client-workers',
    value: 'N',
    default: '1',
    help: 'spread the client over N processes (the bench and N-1 children), for machines with cores to spare',
    scenarios: ['ops'],
  },
  { name: 'op', value: 'NAME', default: 'get-304', help: 'operation for ops: create, get, get-304, put, delete', scenarios: ['ops'] },
  {
    name: 'ceiling',
    value: null,
    default: '',
    help: 'also run the same load against a comparison server and report the ratio of CPU per request: ops against a bare Bun.serve, handshake and hold against the do-nothing rendezvous',
    scenarios: ['ops', 'handshake', 'hold'],
  },
  {
    name: 'minimal',
    value: null,
    default: '',
    help: 'also run the same load against a minimal Elysia app with our headers and none of our guarantees (minimal-elysia.ts)',
    scenarios: ['ops'],
  },
  { name: 'waiters', value: 'W', default: '1000', help: 'long-polls held at once', scenarios: ['hold'] },
  { name: 'hold', value: 'S', default: '2', help: 'seconds all waiters are held before the writes', scenarios: ['hold'] },
  { name: 'writers', value: 'N', default: '64', help: 'concurrent writers (and creators)', scenarios: ['hold'] },
  { name: 'write-rate', value: 'N', default: '1000', help: 'writes per second to the held rendezvous (0: as fast as possible)', scenarios: ['hold'] },
  {
    name: 'rounds',
    value: 'N',
    default: 'ops with --ceiling: 5; else 1',
    help: "split the run into N rounds, alternating our server and the comparison, so drift on a shared machine hits both alike; handshake and hold report each round's p99 (hold: N full rounds, each on fresh waiters)",
    scenarios: ['ops', 'handshake', 'hold'],
  },
  { name: 'rendezvous', value: 'N', default: '100000', help: 'rendezvous to create and keep', scenarios: ['fill'] },
]

export interface ParsedArgs {
  readonly command: string
  readonly positional: readonly string[]
  readonly values: ReadonlyMap<string, string[]>
  readonly switches: ReadonlySet<string>
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const values = new Map<string, string[]>()
  const switches = new Set<string>()
  const positional: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') {
      switches.add('help')
      continue
    }
    if (!arg.startsWith('--')) {
      positional.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq < 0 ? undefined : eq)
    const spec = OPTIONS.find((o) => o.name === name)
    if (!spec) throw new Error(`unknown option --${name} (see --help)`)
    if (spec.value === null) {
      switches.add(name)
      continue
    }
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1)
    if (value === undefined) throw new Error(`--${name} needs a value`)
    values.set(name, [...(values.get(name) ?? []), value])
  }
  const [command = 'handshake', ...rest] = positional
  return { command, positional: rest, values, switches }
}

/** A whole number option, or `fallback` when absent. */
export function intOption(args: ParsedArgs, name: string, fallback: number, min = 0): number {
  const raw = args.values.get(name)?.at(-1)
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} expects a whole number of at least ${min}, got ${JSON.stringify(raw)}`)
  return n
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  return args.values.get(name)?.at(-1)
}

export function helpText(): string {
  const lines = [
    'Usage: bun run bench [scenario] [options]',
    '       bun run bench compare A.json B.json',
    '       bun run bench wrk-check [--op get-304|get|put|create] [--duration S] [--rounds N]',
    '       bun run bench profile FILE.cpuprofile',
    '',
    'Scenarios:',
    '  handshake  (default) P device pairs doing the login exchange: create, read, wait, write, read, reply, read, delete',
    '  ops        closed-loop throughput and server CPU per request of one operation at C connections (--ceiling: against bare Bun too)',
    '  hold       hold W long-polls, then write to each: wake-up latency and server memory per waiter',
    '  fill       create N rendezvous and keep them: server memory per live rendezvous (and Redis memory with --store redis)',
    '  wrk-check  server CPU per request measured under this client and under wrk, in alternating rounds: must agree within 10%',
    '  profile    self time of a `bun --cpu-prof` profile by origin (native, elysia, ours) and by function',
    '',
    'Options:',
  ]
  for (const o of OPTIONS) {
    const flag = `--${o.name}${o.value ? ` ${o.value}` : ''}`
    lines.push(
      `  ${flag.padEnd(24)} ${o.help}${o.default ? ` (default: ${o.default})` : ''} [${o.scenarios.length === ALL.length ? 'all' : o.scenarios.join(', ')}]`,
    )
  }
  lines.push(
    '',
    'Every run against a spawned server reports its CPU time per request (from /proc) and its garbage collections;',
    'comparisons are ratios of CPU per request, which do not depend on how fast the client is.',
    'Every run is bounded by a count or a duration and stops by itself.',
  )
  return lines.join('\n')
}
