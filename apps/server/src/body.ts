/**
 * @module Reading a request body under a byte limit. A declared Content-Length over the limit is
 * refused before a byte is read; a chunked body is counted as it streams and abandoned as soon as
 * it passes the limit, so at most `maxBytes` accepted bytes plus the chunk in hand are ever held.
 */

export type BodyResult =
  | { readonly ok: true; readonly bytes: Uint8Array<ArrayBuffer> }
  | { readonly ok: false; readonly reason: 'too_large' | 'unreadable' | 'timeout' }

const EMPTY = new Uint8Array(0)

/** True when the request declares a Content-Length above `maxBytes` (checked before reading). */
export function declaresTooLarge(request: Request, maxBytes: number): boolean {
  const declared = request.headers.get('content-length')
  return declared !== null && Number(declared) > maxBytes
}

/**
 * Reads the whole body if it is at most `maxBytes` long and arrives within `timeoutMs`. A slow body
 * is cancelled at the deadline, dropping whatever had arrived.
 */
export async function readBodyWithin(request: Request, maxBytes: number, timeoutMs: number): Promise<BodyResult> {
  if (declaresTooLarge(request, maxBytes)) return { ok: false, reason: 'too_large' }
  const body = request.body
  if (body === null) return { ok: true, bytes: EMPTY }
  const reader = body.getReader()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    reader.cancel().catch(() => {})
  }, timeoutMs)
  const chunks: Uint8Array[] = []
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (timedOut) return { ok: false, reason: 'timeout' }
      if (done) break
      total += value.byteLength
      if (total > maxBytes) {
        reader.cancel().catch(() => {})
        return { ok: false, reason: 'too_large' }
      }
      chunks.push(value)
    }
  } catch {
    return { ok: false, reason: timedOut ? 'timeout' : 'unreadable' }
  } finally {
    clearTimeout(timer)
  }
  if (chunks.length === 1) return { ok: true, bytes: exactCopy(chunks[0]!) }
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return { ok: true, bytes }
}

/**
 * A chunk may be a view into a larger buffer; storing it would keep the whole buffer alive for the
 * rendezvous's lifetime. Copy unless the view already owns its buffer exactly.
 */
function exactCopy(chunk: Uint8Array): Uint8Array<ArrayBuffer> {
  const { buffer } = chunk
  if (buffer instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === buffer.byteLength) {
    return new Uint8Array(buffer)
  }
  return chunk.slice()
}
