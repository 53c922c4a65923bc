/**
 * @module The `Prefer` request header (RFC 7240) and the `wait` preference used by long-poll.
 */

/**
 * Parses a `Prefer` header into preference names (lower-cased) and their values (`""` when a
 * preference has no value). Parameters after `;` are dropped: none of ours use them. When a
 * preference repeats, the first one wins, as RFC 7240 section 2 asks. Malformed elements are
 * skipped rather than failing the request: a server must ignore preferences it cannot honour.
 */
export function parsePrefer(value: string): ReadonlyMap<string, string> {
  const preferences = new Map<string, string>()
  for (const element of splitOutsideQuotes(value, ',')) {
    const [head] = splitOutsideQuotes(element, ';')
    if (head === undefined) continue
    const eq = head.indexOf('=')
    const name = (eq < 0 ? head : head.slice(0, eq)).trim().toLowerCase()
    if (!TOKEN.test(name) || preferences.has(name)) continue
    const raw = eq < 0 ? '' : head.slice(eq + 1).trim()
    const unquoted = unquote(raw)
    if (unquoted === null) continue
    preferences.set(name, unquoted)
  }
  return preferences
}

/**
 * The `wait` preference in whole seconds (RFC 7240 section 4.3: delta-seconds), or `undefined`
 * when absent or not a non-negative integer. Very large values are returned capped at 2^31 - 1;
 * the caller clamps them to its own maximum.
 */
export function parsePreferWait(value: string): number | undefined {
  // What long-polling clients send: `wait=N` alone, read without building the whole map.
  const simple = SIMPLE_WAIT.exec(value)
  if (simple) return Math.min(Number(simple[1]), 2_147_483_647)
  const wait = parsePrefer(value).get('wait')
  if (wait === undefined || !/^\d+$/.test(wait)) return undefined
  return Math.min(Number(wait), 2_147_483_647)
}

// --- Internal helpers ---

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const SIMPLE_WAIT = /^\s*wait=(\d+)\s*$/i

/** Splits on `separator` except inside a quoted-string. */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted && c === '\\') i++
    else if (c === '"') quoted = !quoted
    else if (!quoted && c === separator) {
      parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  parts.push(text.slice(start))
  return parts
}

/** A token value as is, a quoted-string without its quotes and escapes, or null when malformed. */
function unquote(raw: string): string | null {
  if (!raw.startsWith('"')) return raw.includes('"') ? null : raw
  let value = ''
  for (let i = 1; i < raw.length; i++) {
    const c = raw[i]!
    if (c === '"') return i === raw.length - 1 ? value : null
    if (c === '\\') {
      i++
      if (i >= raw.length) return null
      value += raw[i]
    } else {
      value += c
    }
  }
  return null
}
