/**
 * @module Entity-tags and the `If-Match` / `If-None-Match` conditions (RFC 9110 sections 8.8.3,
 * 13.1.1 and 13.1.2).
 *
 * Both conditions compare the opaque part only: `If-None-Match` because RFC 9110 says so (weak
 * comparison), `If-Match` as a documented deviation, so that a proxy which weakened our `"x"` into
 * `W/"x"` does not break compare-and-swap for the clients behind it.
 */

/** One entity-tag as it appeared on the wire. */
export interface EntityTag {
  readonly weak: boolean
  /** The quoted opaque-tag, quotes included: `"abc"`. This is also the tag's strong form. */
  readonly opaque: string
}

/** A parsed `If-Match` or `If-None-Match`: either `*` or a non-empty list of tags. */
export type EntityTagCondition = { readonly kind: 'any' } | { readonly kind: 'tags'; readonly tags: readonly EntityTag[] }

export type ParsedCondition = { readonly ok: true; readonly condition: EntityTagCondition } | { readonly ok: false; readonly error: string }

/** The longest entity-tag we issue, quotes included (docs/protocol.md#the-resource caps it at 64). */
export const MAX_ETAG_LENGTH = 64

const ANY: EntityTagCondition = { kind: 'any' }

/** The condition naming exactly one strong tag, `opaque` (quotes included). */
export function strongTagCondition(opaque: string): EntityTagCondition {
  return { kind: 'tags', tags: [{ weak: false, opaque }] }
}

/** True when `text` is a single well-formed entity-tag such as `"x"` or `W/"x"`. */
export function isEntityTag(text: string): boolean {
  const end = scanEntityTag(text, 0)
  return end === text.length
}

/**
 * Parses the value of an `If-Match` or `If-None-Match` header: `*`, or a comma-separated list of
 * entity-tags with optional whitespace (empty list elements are tolerated, as RFC 9110 section 5.6.1
 * asks). Anything else, an empty value included, is malformed.
 */
export function parseEntityTagCondition(value: string): ParsedCondition {
  const text = value.trim()
  if (text === '*') return { ok: true, condition: ANY }
  // What clients send nearly always: one strong tag, read in one scan.
  if (scanEntityTag(text, 0) === text.length && text.charCodeAt(0) === 0x22) return { ok: true, condition: strongTagCondition(text) }
  const tags: EntityTag[] = []
  let i = 0
  while (i < text.length) {
    i = skipListSeparators(text, i)
    if (i >= text.length) break
    const start = i
    const end = scanEntityTag(text, i)
    if (end < 0) return { ok: false, error: `malformed entity-tag at offset ${start}` }
    const weak = text.startsWith('W/', start)
    tags.push({ weak, opaque: text.slice(weak ? start + 2 : start, end) })
    i = skipWhitespace(text, end)
    if (i < text.length && text[i] !== ',') {
      return { ok: false, error: `expected ',' after entity-tag at offset ${i}` }
    }
  }
  if (tags.length === 0) return { ok: false, error: 'expected "*" or at least one entity-tag' }
  return { ok: true, condition: { kind: 'tags', tags } }
}

/**
 * True when `condition` matches the current entity-tag `currentEtag` (our own strong, quoted tag).
 * `*` matches any current representation.
 */
export function conditionMatches(condition: EntityTagCondition, currentEtag: string): boolean {
  if (condition.kind === 'any') return true
  return condition.tags.some((tag) => tag.opaque === currentEtag)
}

// --- Internal helpers ---

/** Returns the index just past an entity-tag starting at `i`, or -1 when there is none. */
function scanEntityTag(text: string, i: number): number {
  if (text.startsWith('W/', i)) i += 2
  if (text.charCodeAt(i) !== 0x22) return -1
  i++
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === 0x22) return i + 1
    if (!isEtagChar(c)) return -1
    i++
  }
  return -1
}

/** etagc = %x21 / %x23-7E / obs-text (%x80-FF) */
function isEtagChar(c: number): boolean {
  return c === 0x21 || (c >= 0x23 && c <= 0x7e) || (c >= 0x80 && c <= 0xff)
}

function skipWhitespace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++
  return i
}

function skipListSeparators(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === ',')) i++
  return i
}
