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
import type { CreateDialect, RateLimit } from './config.ts'
import type { Logger } from './log.ts'
import { type RateLimiter, limiterFor } from './rate-limit.ts'
import { Refusal, errorResponse, refuse } from './responses.ts'

export type { CreateDialect }

/** What a token verifier says of one token. */
export type TokenVerdict = 'valid' | 'invalid' | 'unavailable'

/** Decides whether a bearer token may create. */
export interface TokenVerifier {
  /** The verdict on `token` if it is known without asking anyone (a token file, a cached answer). */
  known(token: string): Exclude<TokenVerdict, 'unavailable'> | undefined
  verify(token: string): Promise<TokenVerdict> | TokenVerdict
}

/** Tokens listed in a file: exact matches only. */
export function staticTokens(tokens: ReadonlySet<string>): TokenVerifier {
  const verdict = (token: string) => (tokens.has(token) ? 'valid' : 'invalid')
  return { known: verdict, verify: verdict }
}

/** A verifier whose tokens can be read again while serving (on SIGHUP). */
export interface ReloadableTokens extends TokenVerifier {
  /** Reads the tokens again; throws (and keeps the tokens it had) when they cannot be read. */
  reload(): void
}

/** The tokens `read()` lists (a token file), read now and again on each `reload()`. */
export function reloadableTokens(read: () => ReadonlySet<string>): ReloadableTokens {
  let tokens = read()
  const verdict = (token: string) => (tokens.has(token) ? 'valid' : 'invalid')
  return {
    known: verdict,
    verify: verdict,
    reload() {
      tokens = read()
    },
  }
}

/** What the gate decided about a token on a guarded path. */
export type GateDecision = TokenVerdict | 'missing' | 'rate_limited'

/**
 * Applies the verifier to the create paths: `null` verifier means creation is open everywhere;
 * `openDialects` stay open even when it is not.
 */
export class CreateGate {
  readonly #verifier: TokenVerifier | null
  readonly #openDialects: ReadonlySet<CreateDialect>
  /** Tokens each client may have checked that are not known already: each costs the homeserver a question. */
  readonly #unknownTokens: RateLimiter | null
  /** Told of every decision on a guarded path, for the metrics. */
  readonly #record: (decision: GateDecision) => void

  constructor(
    verifier: TokenVerifier | null,
    openDialects: ReadonlySet<CreateDialect> = new Set(),
    unknownTokenLimit: RateLimit = { kind: 'off' },
    record: (decision: GateDecision) => void = () => {},
  ) {
    this.#verifier = verifier
    this.#openDialects = openDialects
    this.#unknownTokens = limiterFor(unknownTokenLimit)
    this.#record = record
  }

  /** Whether creating in `dialect` needs a token. */
  guards(dialect: CreateDialect): boolean {
    return this.#verifier !== null && !this.#openDialects.has(dialect)
  }

  /**
   * Resolves when this request may create in `dialect`; else refuses it (401, 429 or 503). `client`
   * is the key the guard counts the caller under.
   */
  async check(request: Request, dialect: CreateDialect, client: string | null): Promise<void> {
    if (!this.guards(dialect)) return
    const token = bearerToken(request)
    if (token === null) {
      this.#record('missing')
      refuse('missing_token')
    }
    const refusal = refusalFor(await this.#verdict(token, client))
    if (refusal) throw new Refusal(refusal)
  }

  /**
   * MSC4388 discovery: whether this caller may create. A caller without a token learns `false`
   * up front rather than failing later; an invalid token is a 401, so the client can refresh it.
   */
  async mayCreate(request: Request, client: string | null): Promise<boolean> {
    if (!this.guards('msc4388')) return true
    const token = bearerToken(request)
    if (token === null) return false
    const refusal = refusalFor(await this.#verdict(token, client))
    if (refusal) throw new Refusal(refusal)
    return true
  }

  /** The verdict on `token`; a token that must be asked about spends from the client's budget first (refused beyond it). */
  #verdict(token: string, client: string | null): TokenVerdict | Promise<TokenVerdict> {
    const verifier = this.#verifier!
    const known = verifier.known(token)
    if (known !== undefined) {
      this.#record(known)
      return known
    }
    if (this.#unknownTokens !== null) {
      const allowed = this.#unknownTokens.take(client ?? 'unknown')
      if (!allowed.ok) {
        this.#record('rate_limited')
        refuse('rate_limited', { detail: 'Too many new access tokens from this address', retryAfterMs: allowed.retryAfterMs })
      }
    }
    const verdict = verifier.verify(token)
    if (typeof verdict === 'string') this.#record(verdict)
    else void verdict.then(this.#record)
    return verdict
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
  /** Questions to the homeserver under way at once; beyond it a new token is answered 503 at once. @default 32 */
  readonly maxConcurrent?: number
  /** Largest `whoami` answer read; a larger one counts as no answer. @default 65536 */
  readonly maxAnswerBytes?: number
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
  const maxConcurrent = options.maxConcurrent ?? 32
  const maxAnswerBytes = options.maxAnswerBytes ?? 65_536
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
      const text = await boundedText(response, maxAnswerBytes)
      if (text === null) return unavailable(`whoami answered more than ${maxAnswerBytes} bytes`)
      const body = parseJson(text) as { user_id?: unknown } | null
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

  const keyOf = (token: string) => createHash('sha256').update(token).digest('base64')
  function cachedVerdict(key: string): 'valid' | 'invalid' | undefined {
    const cached = cache.get(key)
    if (cached === undefined) return undefined
    if (cached.until > now()) return cached.valid ? 'valid' : 'invalid'
    cache.delete(key)
    return undefined
  }

  return {
    known: (token) => cachedVerdict(keyOf(token)),
    verify(token) {
      const key = keyOf(token)
      const cached = cachedVerdict(key)
      if (cached !== undefined) return cached
      let pending = asking.get(key)
      if (pending === undefined) {
        // Questions already under way are as many as the homeserver should get from us at once.
        if (asking.size >= maxConcurrent) return unavailable(`${maxConcurrent} token checks already under way`)
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

/** The body as text if it is at most `maxBytes` long; null (and the rest left unread) when longer. */
async function boundedText(response: Response, maxBytes: number): Promise<string | null> {
  const declared = Number(response.headers.get(Header.contentLength) ?? Number.NaN)
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {})
    return null
  }
  const reader = response.body?.getReader()
  if (!reader) return ''
  const chunks: Uint8Array[] = []
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      total += value.byteLength
      if (total > maxBytes) {
        await reader.cancel().catch(() => {})
        return null
      }
      chunks.push(value)
    }
  } catch {
    return ''
  }
  return Buffer.concat(chunks).toString('utf8')
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}
