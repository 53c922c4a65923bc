/**
 * @module Recognising a retried write (RFC 9110 section 13.1.1, MSC4388's exact retry): a write
 * whose condition failed only because it was already applied.
 */

import type { EntityTagCondition } from '@rendezvous/protocol'
import type { Rendezvous, Write } from './types.ts'

/**
 * True when `write`, whose `ifMatch` no longer matches, repeats the write that produced `current`:
 * `ifMatch` names the ETag that write replaced, and payload and content type are byte-identical.
 * Anyone else's change in between makes this false, so a third writer's work is never reported
 * as the retry's success.
 */
export function repeatsLastWrite(ifMatch: EntityTagCondition, current: Rendezvous, write: Write): boolean {
  return namesReplacedEtag(ifMatch, current) && write.contentType === current.contentType && sameBytes(write.payload, current.payload)
}

/**
 * True when `ifMatch` names the ETag that `current`'s write replaced: only such a write can turn out
 * to be a retry, so a server may refuse any other failing write before reading its body.
 */
function namesReplacedEtag(ifMatch: EntityTagCondition, current: Rendezvous): boolean {
  const previous = current.previousEtag
  return previous !== null && ifMatch.kind === 'tags' && ifMatch.tags.some((tag) => tag.opaque === previous)
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
