/**
 * @module What the doctor's checks share: the origins the operator named, one way to send a request
 * (only to those origins, never following a redirect, never decompressing), and what earlier checks
 * learnt that later ones need (the server's limits, the rendezvous created, the current ETag).
 */

import type { ServerInfo } from '@rendezvous/protocol'
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import type { MistakeId } from './mistakes.ts'

export type Status = 'pass' | 'fail' | 'skip'

export interface CheckResult {
  readonly id: string
  readonly title: string
  readonly status: Status
  /** What was seen, for a person. */
  readonly detail: string
  /** The known mistake this failure points to. */
  readonly mistake?: MistakeId
}

export interface DoctorOptions {
  /** Where the root dialect lives, as clients reach it, e.g. `https://rendezvous.example.org/`. */
  readonly url: string
  /** Where the Matrix paths are served. @default the origin of `url` */
  readonly matrixOrigin?: string
  /** A bearer token, when creation needs one. */
  readonly token?: string | null
  /** Accept a certificate that does not verify (a test proxy's own). */
  readonly insecure?: boolean
  /** Hold one long-poll for the server's whole longest wait (the read-timeout check). @default true */
  readonly fullWait?: boolean
  /** Told of each result as it comes. */
  readonly onResult?: (result: CheckResult) => void
}

/** One answer as the doctor reads it: what came over the wire, undone of any compression. */
export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly elapsedMs: number
}

export interface RequestOptions {
  readonly headers?: Record<string, string>
  readonly body?: string | Uint8Array
  readonly timeoutMs?: number
  /** Send the token with a request that is not a create (MSC4388 discovery answers by it). */
  readonly authorized?: boolean
}

/** The root dialect's rendezvous the later checks exchange messages through. */
export interface Session {
  readonly id: string
  readonly url: string
  readonly etag: string
}

/** What a browser on another site sends with every request. */
export const ORIGIN = 'https://doctor.invalid'
const ACCEPT_ENCODING = 'gzip, deflate, br'
export const FIRST_MESSAGE = 'rendezvous doctor: first message'
export const REPLY = 'rendezvous doctor: reply'

export class DoctorContext {
  readonly options: DoctorOptions
  /** Where the root dialect is, ending in `/`. */
  readonly base: string
  readonly publicUrl: URL
  /** Where the Matrix paths are, without a trailing slash. */
  readonly matrixOrigin: string
  /** The requests the doctor may send go to these origins and no others. */
  readonly #namedOrigins: ReadonlySet<string>
  /** The doctor must see what the proxy did to an answer: no transparent decompression. */
  readonly #transport: { decompress: false; tls: { rejectUnauthorized: false } | undefined }

  /** Learnt by the checks, in the order they run. */
  info: ServerInfo | null = null
  maxBytes = 10_240
  maxWaitSeconds = 30
  seedAnswer: Answer | null = null
  session: Session | null = null
  /** The ETag written last: each writing check moves it on. */
  currentEtag = ''
  routed = { msc3886: false, msc4108: false, msc4388: false }
  msc4388Session: { readonly id: string; readonly token: string } | null = null
  /** Everything created, as the URLs that delete it. */
  readonly cleanup: string[] = []

  constructor(options: DoctorOptions) {
    this.options = options
    this.base = options.url.endsWith('/') ? options.url : `${options.url}/`
    this.publicUrl = new URL(this.base)
    this.matrixOrigin = (options.matrixOrigin ?? this.publicUrl.origin).replace(/\/+$/, '')
    this.#namedOrigins = new Set([this.publicUrl.origin, new URL(this.matrixOrigin).origin])
    this.#transport = { decompress: false, tls: options.insecure ? { rejectUnauthorized: false } : undefined }
  }

  /** Sends a request to a named origin (any other is refused unsent); an Error when it could not be sent or answered. */
  async call(method: string, url: string, init: RequestOptions = {}): Promise<Answer | Error> {
    if (!this.#namedOrigins.has(new URL(url).origin)) return new Error(`not sent: ${new URL(url).origin} is not an origin you named`)
    const headers: Record<string, string> = { origin: ORIGIN, 'accept-encoding': ACCEPT_ENCODING, ...init.headers }
    const token = this.options.token
    if (token && (method === 'POST' || init.authorized)) headers['authorization'] = `Bearer ${token}`
    const started = performance.now()
    try {
      const response = await fetch(url, {
        method,
        headers,
        body: init.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(init.timeoutMs ?? 15_000),
        ...this.#transport,
      } as RequestInit)
      const text = decoded(new Uint8Array(await response.arrayBuffer()), response.headers.get('content-encoding'))
      return { status: response.status, headers: response.headers, text, elapsedMs: performance.now() - started }
    } catch (error) {
      return error as Error
    }
  }

  /** A streamed request (the probe), with the same rules as `call`; the caller reads the body. */
  stream(url: string): Promise<Response> {
    return fetch(url, {
      headers: { origin: ORIGIN, 'accept-encoding': ACCEPT_ENCODING },
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
      ...this.#transport,
    } as RequestInit)
  }

  /** Where the doctor goes on with a URL the server returned: itself when on a named origin, else its path there. */
  onNamedOrigin(returned: string, origin: string): string {
    const url = new URL(returned, origin)
    return this.#namedOrigins.has(url.origin) ? url.href : new URL(`${url.pathname}${url.search}`, origin).href
  }
}

/** What went wrong with an answer, for a person. */
export function failed(answer: Answer | Error): string {
  if (answer instanceof Error) return `${answer.name}: ${answer.message}`
  const location = answer.headers.get('location')
  if (answer.status >= 300 && answer.status < 400 && location) {
    return `answered ${answer.status}, a redirect to ${location} (not followed: clients do not follow redirects of a PUT, and a rendezvous is not moved)`
  }
  return `answered ${answer.status} ${answer.text.slice(0, 120)}`
}

/** Why a URL the server built is wrong for the client that asked (scheme and host must be the client's), or null. */
export function returnedUrlProblem(returned: string, clientUrl: URL): { readonly detail: string; readonly mistake: MistakeId } | null {
  let url: URL
  try {
    url = new URL(returned)
  } catch {
    return { detail: `returned URL ${JSON.stringify(returned)} is not absolute`, mistake: 'host-not-forwarded' }
  }
  if (url.host !== clientUrl.host)
    return { detail: `returned URL ${returned} uses host ${url.host}; the client used ${clientUrl.host}`, mistake: 'host-not-forwarded' }
  if (url.protocol !== clientUrl.protocol) {
    return {
      detail: `returned URL ${returned} uses ${url.protocol.slice(0, -1)}; the client used ${clientUrl.protocol.slice(0, -1)}`,
      mistake: 'proto-not-forwarded',
    }
  }
  return null
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}

export function listOf(header: string | null): string[] {
  return (header ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '')
}

/** A body as text, undoing what a proxy's compression did to it (the encoding itself is checked apart). */
function decoded(bytes: Uint8Array, encoding: string | null): string {
  try {
    switch (encoding?.toLowerCase()) {
      case 'gzip':
        return new TextDecoder().decode(gunzipSync(bytes))
      case 'deflate':
        return new TextDecoder().decode(inflateSync(bytes))
      case 'br':
        return new TextDecoder().decode(brotliDecompressSync(bytes))
      default:
        return new TextDecoder().decode(bytes)
    }
  } catch {
    return ''
  }
}
