/**
 * @module Who may create a rendezvous (`RENDEZVOUS_CREATE_AUTH`): anybody, holders of a token listed
 * in a file, or holders of an access token the homeserver accepts (`GET /account/whoami`). It covers
 * every create path of every dialect, except the older dialects an operator opens by name for
 * clients that send no token.
 *
 * Tokens are bearer secrets: they are never logged, and the verdict cache keys them by hash.
 */

import { createHash } from 'node:crypto'
import { Header } from '@rendezvous/protocol'
import type { Logger } from './log.ts'
import { errorResponse } from './responses.ts'

/** The dialects that create rendezvous (contract section 10). */
export type CreateDialect = 'seed' | 'msc3886' | 'msc4108' | 'msc4388'

/** What a token verifier says of one token. */
export type TokenVerdict = 'valid' | 'invalid' | 'unavailable'

/** Decides whether a bearer token may create. */
export interface TokenVerifier {
  verify(token: string): Promise<TokenVerdict> | TokenVerdict
}

/** Tokens listed in a file: exact matches only. */
export function staticTokens(tokens: ReadonlySet<string>): TokenVerifier {
  return { verify: (token) => (tokens.has(token) ? 'valid' : 'invalid') }
}

/**
 * Applies the verifier to the create paths: `null` verifier means creation is open everywhere;
 * `openDialects` stay open even when it is not.
 */
export class CreateGate {
  readonly #verifier: TokenVerifier | null
  readonly #openDialects: ReadonlySet<CreateDialect>

  constructor(verifier: TokenVerifier | null, openDialects: ReadonlySet<CreateDialect> = new Set()) {
    this.#verifier = verifier
    this.#openDialects = openDialects
  }

  /**
   * Null when this request may create in `dialect`; else the 401 (or 503) to answer. Synchronous
   * when nothing has to be asked (creation open, or a token file).
   */
  check(request: Request, dialect: CreateDialect): Response | null | Promise<Response | null> {
    if (this.#verifier === null || this.#openDialects.has(dialect)) return null
    const token = bearerToken(request)
    if (token === null) return errorResponse('missing_token')
    const verdict = this.#verifier.verify(token)
    return verdict instanceof Promise ? verdict.then(refusalFor) : refusalFor(verdict)
  }

  /**
   * MSC4388 discovery: whether this caller may create. A caller without a token learns `false`
   * up front rather than failing later; an invalid token is a 401, so the client can refresh it.
   */
  async mayCreate(request: Request): Promise<boolean | Response> {
    if (this.#verifier === null || this.#openDialects.has('msc4388')) return true
    const token = bearerToken(request)
    if (token === null) return false
    return refusalFor(await this.#verifier.verify(token)) ?? true
  }
}

function refusalFor(verdict: TokenVerdict): Response | null {
  switch (verdict) {
    case 'valid':
      return null
    case 'invalid':
      return errorResponse('unknown_token')
    case 'unavailable':
      return errorResponse('service_unavailable', { detail: 'Could not check the access token with the homeserver', retryAfterMs: 2000 })
  }
}

/** The token of `Authorization: Bearer <token>`, or null when there is no such header. */
function bearerToken(request: Request): string | null {
  const header = request.headers.get(Header.authorization)
  if (header === null) return null
  const match = /^Bearer +(\S+) *$/i.exec(header)
  return match ? match[1]! : null
}

// --- The homeserver's verdict ---

export interface HomeserverOptions {
  /** The homeserver's client-server API base, e.g. `https://matrix.example.org`. */
  readonly baseUrl: string
  /** Longest wait for the homeserver's answer. @default 5000 */
  readonly timeoutMs?: number
  /** How long a token the homeserver accepted stays accepted without asking again. @default 120000 */
  readonly validForMs?: number
  /** How long a token the homeserver refused stays refused without asking again. @default 30000 */
  readonly invalidForMs?: number
  /** Verdicts remembered at once; beyond it the oldest are forgotten. @default 10000 */
  readonly maxCached?: number
  readonly logger?: Logger
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch
  /** @default performance.now */
  readonly now?: () => number
}

interface CachedVerdict {
  readonly valid: boolean
  readonly until: number
}

/**
 * Asks the homeserver's `GET /_matrix/client/v3/account/whoami` whether a token is valid, the way
 * Synapse (and, through it, matrix-authentication-service) validates its own tokens. Verdicts are
 * cached by token hash for a short while; concurrent questions about one token share one request;
 * a homeserver that cannot answer in time makes the verdict `unavailable` (a 503, never a 401),
 * and that is never cached.
 */
export function homeserverTokens(options: HomeserverOptions): TokenVerifier {
  const whoami = `${options.baseUrl.replace(/\/+$/, '')}/_matrix/client/v3/account/whoami`
  const timeoutMs = options.timeoutMs ?? 5000
  const validForMs = options.validForMs ?? 120_000
  const invalidForMs = options.invalidForMs ?? 30_000
  const maxCached = options.maxCached ?? 10_000
  const doFetch = options.fetch ?? fetch
  const now = options.now ?? (() => performance.now())
  const cache = new Map<string, CachedVerdict>()
  const asking = new Map<string, Promise<TokenVerdict>>()
  let lastWarning = -Infinity

  async function ask(token: string): Promise<TokenVerdict> {
    let response: Response
    try {
      response = await doFetch(whoami, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' })
    } catch (error) {
      return unavailable(error instanceof Error ? error.name : 'fetch failed')
    }
    if (response.status === 200) {
      const body = (await response.json().catch(() => null)) as { user_id?: unknown } | null
      return typeof body?.user_id === 'string' ? 'valid' : unavailable('whoami answered 200 without a user_id')
    }
    // Only the status matters; a body that cannot even be cancelled must not turn into a 500.
    await response.body?.cancel().catch(() => {})
    // 401 M_UNKNOWN_TOKEN / M_MISSING_TOKEN, 403 for a locked or expired account: the homeserver
    // has decided. 429 and 5xx mean it could not decide now.
    if (response.status === 401 || response.status === 403) return 'invalid'
    return unavailable(`whoami answered ${response.status}`)
  }

  function unavailable(reason: string): TokenVerdict {
    const at = now()
    if (options.logger && at - lastWarning >= 1000) {
      lastWarning = at
      options.logger.log('warn', 'homeserver could not check a token', { homeserver: options.baseUrl, reason })
    }
    return 'unavailable'
  }

  function remember(key: string, valid: boolean): void {
    if (cache.size >= maxCached) cache.delete(cache.keys().next().value!)
    cache.set(key, { valid, until: now() + (valid ? validForMs : invalidForMs) })
  }

  return {
    verify(token) {
      const key = createHash('sha256').update(token).digest('base64')
      const cached = cache.get(key)
      if (cached !== undefined) {
        if (cached.until > now()) return cached.valid ? 'valid' : 'invalid'
        cache.delete(key)
      }
      let pending = asking.get(key)
      if (pending === undefined) {
        pending = ask(token).then((verdict) => {
          asking.delete(key)
          if (verdict !== 'unavailable') remember(key, verdict === 'valid')
          return verdict
        })
        asking.set(key, pending)
      }
      return pending
    },
  }
}
