/**
 * @module The MSC4388 dialect: JSON bodies instead of raw payloads, sequence tokens instead of
 * ETags. Served on the same store as the root dialect (docs/protocol.md#matrix-dialects).
 */

import { Type, type Static } from '@sinclair/typebox'

export { MSC4388_PATHS } from './matrix-paths.ts'

/** Largest `data`, in UTF-8 bytes. */
export const MSC4388_MAX_DATA_BYTES = 4096

/** The Matrix opaque-identifier grammar, which ids and sequence tokens must follow. */
export const OPAQUE_ID_PATTERN = '^[0-9A-Za-z._~-]{1,255}$'
const OPAQUE_ID = new RegExp(OPAQUE_ID_PATTERN)

export function isOpaqueIdentifier(text: string): boolean {
  return OPAQUE_ID.test(text)
}

const SequenceToken = Type.String({ pattern: OPAQUE_ID_PATTERN })

export const Msc4388Discovery = Type.Object({ create_available: Type.Boolean() })
export type Msc4388Discovery = Static<typeof Msc4388Discovery>

export const Msc4388CreateRequest = Type.Object({ data: Type.String() })
export type Msc4388CreateRequest = Static<typeof Msc4388CreateRequest>

export const Msc4388CreateResponse = Type.Object(
  { id: Type.String({ pattern: OPAQUE_ID_PATTERN }), sequence_token: SequenceToken, expires_in_ms: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
)
export type Msc4388CreateResponse = Static<typeof Msc4388CreateResponse>

export const Msc4388ReadResponse = Type.Object(
  { data: Type.String(), sequence_token: SequenceToken, expires_in_ms: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
)
export type Msc4388ReadResponse = Static<typeof Msc4388ReadResponse>

export const Msc4388UpdateRequest = Type.Object({ sequence_token: Type.String(), data: Type.String() })
export type Msc4388UpdateRequest = Static<typeof Msc4388UpdateRequest>

export const Msc4388UpdateResponse = Type.Object({ sequence_token: SequenceToken }, { additionalProperties: false })
export type Msc4388UpdateResponse = Static<typeof Msc4388UpdateResponse>

/** A sequence token is our ETag without its quotes (ours only ever use opaque-identifier characters). */
export function sequenceTokenOf(etag: string): string {
  return etag.slice(1, -1)
}

export function etagOfSequenceToken(token: string): string {
  return `"${token}"`
}

/**
 * True when the request looks like a browser navigation (a link opened in a tab) rather than a
 * script's fetch: such reads are refused, so a rendezvous URL shown as a QR code and opened in a
 * browser cannot leak its data into history or extensions.
 */
export function isBrowserNavigation(headers: Headers): boolean {
  const dest = headers.get('sec-fetch-dest')
  return (
    (dest !== null && dest !== 'empty') ||
    headers.get('sec-fetch-mode') === 'navigate' ||
    headers.get('sec-fetch-user') === '?1' ||
    headers.get('sec-fetch-site') === 'none'
  )
}
