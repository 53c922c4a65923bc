/**
 * @module Reading a request body under a byte limit. A declared Content-Length over the limit is
 * refused before a byte is read; a chunked body is counted as it streams and abandoned as soon as
 * it passes the limit, so at most `maxBytes` accepted bytes plus the chunk in hand are ever held.
 */

import { Header } from '@rendezvous/protocol'

/** Why a body was not read: over the limit, broken off, or too slow. */
export type BodyRefusal = 'too_large' | 'unreadable' | 'timeout'

export type BodyResult = { readonly ok: true; readonly bytes: Uint8Array<ArrayBuffer> } | { readonly ok: false; readonly reason: BodyRefusal }

const EMPTY = new Uint8Array(0)

/**
 * Deadlines for body reads, checked by one timer for all of them: a timer per request costs more
 * than the rest of a small PUT. Reads start in order and share one timeout, so the oldest comes
 * first and a sweep stops at the first read still within its time.
 */
export class BodyDeadlines {
  readonly #timeoutMs: number
  readonly #active = new Set<Watch>()
  readonly #timer: ReturnType<typeof setInterval>

  constructor(timeoutMs: number, sweepIntervalMs = Math.min(250, timeoutMs)) {
    this.#timeoutMs = timeoutMs
    this.#timer = setInterval(() => this.sweep(), sweepIntervalMs)
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  /** Calls `onExpire` once the timeout passes, unless `release` comes first. */
  watch(onExpire: () => void): Watch {
    const watch = { deadline: performance.now() + this.#timeoutMs, onExpire }
    this.#active.add(watch)
    return watch
  }

  release(watch: Watch): void {
    this.#active.delete(watch)
  }

  sweep(now = performance.now()): void {
    for (const watch of this.#active) {
      if (watch.deadline > now) break
      this.#active.delete(watch)
      watch.onExpire()
    }
  }

  close(): void {
    clearInterval(this.#timer)
  }
}

interface Watch {
  readonly deadline: number
  readonly onExpire: () => void
}

/**
 * Reads the whole body if it is at most `maxBytes` long and arrives before its deadline. A slow
 * body is abandoned at the deadline, dropping whatever had arrived.
 */
export function readBodyWithin(request: Request, maxBytes: number, deadlines: BodyDeadlines): Promise<BodyResult> | BodyResult {
  const declared = request.headers.get(Header.contentLength)
  if (declared !== null) return readDeclaredBody(request, Number(declared), maxBytes, deadlines)
  const body = request.body
  if (body === null) return { ok: true, bytes: EMPTY }
  return readStreamedBody(body, maxBytes, deadlines)
}

/** A chunked body, counted as it streams and abandoned as soon as it passes `maxBytes`. */
async function readStreamedBody(body: ReadableStream<Uint8Array>, maxBytes: number, deadlines: BodyDeadlines): Promise<BodyResult> {
  const reader = body.getReader()
  let timedOut = false
  const watch = deadlines.watch(() => {
    timedOut = true
    reader.cancel().catch(() => {})
  })
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
    deadlines.release(watch)
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

/** The body of a write to a rendezvous that may not exist, or word that it does not. */
export type WriteBodyResult = BodyResult | { readonly ok: false; readonly reason: 'gone' }

const GONE = { ok: false, reason: 'gone' } as const

/**
 * `readBodyWithin` for a write to one rendezvous: when the body has not arrived with the request's
 * head, `exists` is asked at once instead of after the body, so a slow body aimed at an id that
 * does not exist is answered `gone` without waiting for it. A body that came with the head (as
 * almost every real client's does) costs no question.
 */
export async function readWriteBody(request: Request, maxBytes: number, deadlines: BodyDeadlines, exists: () => Promise<boolean>): Promise<WriteBodyResult> {
  const body = readBodyWithin(request, maxBytes, deadlines)
  if (!(body instanceof Promise)) return body
  // A body that arrived with the head is ready once the event loop has turned over once.
  await new Promise((resolve) => setImmediate(resolve))
  if (Bun.peek.status(body) !== 'pending') return body
  return Promise.race<WriteBodyResult>([body, exists().then((live): Promise<WriteBodyResult> | WriteBodyResult => (live ? body : GONE))])
}

/**
 * With a Content-Length the parser has already bounded the body, so Bun's native `bytes()` reads
 * it in one go, several times faster than pulling a stream chunk by chunk. On timeout the
 * read is abandoned: it holds at most `length` (<= maxBytes) bytes and ends when the connection
 * closes, which the 408 answer asks for.
 */
function readDeclaredBody(request: Request, length: number, maxBytes: number, deadlines: BodyDeadlines): Promise<BodyResult> | BodyResult {
  if (length > maxBytes) return { ok: false, reason: 'too_large' }
  if (length === 0) return { ok: true, bytes: EMPTY }
  return new Promise<BodyResult>((resolve) => {
    const watch = deadlines.watch(() => resolve({ ok: false, reason: 'timeout' }))
    // `bytes()` hands back an exact-size array (measured: the same RSS per stored payload as a
    // copy, where `arrayBuffer()` kept about 660 bytes of slack per 1 KiB), so nothing is copied.
    request.bytes().then(
      (bytes) => {
        deadlines.release(watch)
        resolve(bytes.byteLength > maxBytes ? { ok: false, reason: 'too_large' } : { ok: true, bytes: bytes as Uint8Array<ArrayBuffer> })
      },
      () => {
        deadlines.release(watch)
        resolve({ ok: false, reason: 'unreadable' })
      },
    )
  })
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
