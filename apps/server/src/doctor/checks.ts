/**
 * @module The doctor's checks: from outside, through the operator's real path, each dialect's
 * exchange the way clients do it, and every way a proxy in between is known to break it. A handful
 * of requests (one long-poll held for the server's longest wait), everything created is deleted.
 *
 * Requests go only to the origins the operator named (the URL's and the Matrix origin): a URL the
 * server returns on another host is reported and then used by its path on the named origin, and a
 * redirect is reported, never followed. A misconfigured server must not turn the doctor into a
 * client of somebody else's host, token included.
 */

import { CORS_EXPOSE_HEADERS, CreateResponse, MSC3886_PATH, MSC4108_PATH, MSC4388_PATHS, Msc4108CreateResponse, ServerInfo } from '@rendezvous/protocol'
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import { Value } from '@sinclair/typebox/value'
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

/** What a browser on another site sends with every request. */
const ORIGIN = 'https://doctor.invalid'
const ACCEPT_ENCODING = 'gzip, deflate, br'
const REQUESTED_HEADERS = ['authorization', 'content-type', 'if-match', 'if-none-match', 'prefer']
const EXPOSED = CORS_EXPOSE_HEADERS.split(',').map((h) => h.trim().toLowerCase())
const UNKNOWN_ID = 'AAAAAAAAAAAAAAAAAAAAAA'
/** A streamed part may take this long to pass before the doctor calls it held back. */
const STREAM_LATE_MS = 500
/** A held long-poll must answer within this of the write that ends it. */
const WAKE_LATE_MS = 1000

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly elapsedMs: number
}

export async function runChecks(options: DoctorOptions): Promise<CheckResult[]> {
  const base = options.url.endsWith('/') ? options.url : `${options.url}/`
  const publicUrl = new URL(base)
  const matrixOrigin = (options.matrixOrigin ?? publicUrl.origin).replace(/\/+$/, '')
  const namedOrigins = new Set([publicUrl.origin, new URL(matrixOrigin).origin])
  const results: CheckResult[] = []
  const cleanup: string[] = []
  const record = (result: CheckResult) => {
    results.push(result)
    options.onResult?.(result)
    return result.status === 'pass'
  }
  const pass = (id: string, title: string, detail: string) => record({ id, title, status: 'pass', detail })
  const fail = (id: string, title: string, detail: string, mistake?: MistakeId) =>
    record({ id, title, status: 'fail', detail, ...(mistake ? { mistake } : {}) })
  const skip = (id: string, title: string, detail: string) => record({ id, title, status: 'skip', detail })

  // The doctor must see what the proxy did to an answer: no transparent decompression.
  const transport = { decompress: false, tls: options.insecure ? { rejectUnauthorized: false } : undefined }

  async function call(
    method: string,
    url: string,
    init: { headers?: Record<string, string>; body?: string | Uint8Array; timeoutMs?: number; authorized?: boolean } = {},
  ): Promise<Answer | Error> {
    if (!namedOrigins.has(new URL(url).origin)) return new Error(`not sent: ${new URL(url).origin} is not an origin you named`)
    const headers: Record<string, string> = { origin: ORIGIN, 'accept-encoding': ACCEPT_ENCODING, ...init.headers }
    // The token goes with creates and with MSC4388 discovery, which answers create_available by it.
    if (options.token && (method === 'POST' || init.authorized)) headers['authorization'] = `Bearer ${options.token}`
    const started = performance.now()
    try {
      const response = await fetch(url, {
        method,
        headers,
        body: init.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(init.timeoutMs ?? 15_000),
        ...transport,
      } as RequestInit)
      const text = decoded(new Uint8Array(await response.arrayBuffer()), response.headers.get('content-encoding'))
      return { status: response.status, headers: response.headers, text, elapsedMs: performance.now() - started }
    } catch (error) {
      return error as Error
    }
  }
  const failed = (answer: Answer | Error): string => {
    if (answer instanceof Error) return `${answer.name}: ${answer.message}`
    const location = answer.headers.get('location')
    if (answer.status >= 300 && answer.status < 400 && location)
      return `answered ${answer.status}, a redirect to ${location} (not followed: clients do not follow redirects of a PUT, and a rendezvous is not moved)`
    return `answered ${answer.status} ${answer.text.slice(0, 120)}`
  }

  /** Where the doctor goes on with a URL the server returned: itself when on a named origin, else its path there. */
  const onNamedOrigin = (returned: string, origin: string): string => {
    const url = new URL(returned, origin)
    return namedOrigins.has(url.origin) ? url.href : new URL(`${url.pathname}${url.search}`, origin).href
  }

  /** A URL the server built must use the scheme and host the client used. */
  function checkReturnedUrl(id: string, title: string, returned: string, clientUrl: URL): boolean {
    let url: URL
    try {
      url = new URL(returned)
    } catch {
      return fail(id, title, `returned URL ${JSON.stringify(returned)} is not absolute`, 'host-not-forwarded')
    }
    if (url.host !== clientUrl.host)
      return fail(id, title, `returned URL ${returned} uses host ${url.host}; the client used ${clientUrl.host}`, 'host-not-forwarded')
    if (url.protocol !== clientUrl.protocol)
      return fail(
        id,
        title,
        `returned URL ${returned} uses ${url.protocol.slice(0, -1)}; the client used ${clientUrl.protocol.slice(0, -1)}`,
        'proto-not-forwarded',
      )
    return true
  }

  // --- The server itself ---
  let maxBytes = 10_240
  let maxWait = 30
  const infoAnswer = await call('GET', `${base}_rendezvous/info`)
  if (!(infoAnswer instanceof Error) && infoAnswer.status === 200 && Value.Check(ServerInfo, parseJson(infoAnswer.text))) {
    const info = parseJson(infoAnswer.text) as ServerInfo
    maxBytes = info.max_bytes
    maxWait = info.max_wait_seconds
    pass(
      'info',
      'server info',
      `rendezvous ${info.version}, store ${info.store}${info.store_topology ? ` (${info.store_topology})` : ''}, max_bytes ${info.max_bytes}, long-poll up to ${info.max_wait_seconds} s, ttl ${info.ttl_seconds} s, create auth ${info.create_auth}`,
    )
    const policy = info.store_eviction_policy
    if (info.store === 'redis' && policy !== undefined) {
      const title = 'Redis keeps live rendezvous'
      if (policy === 'noeviction') pass('store-eviction', title, 'maxmemory-policy noeviction')
      else if (policy === null) skip('store-eviction', title, 'the server has not heard its Redis say its maxmemory-policy yet')
      else
        fail(
          'store-eviction',
          title,
          `Redis's maxmemory-policy is ${policy}: under memory pressure it drops live rendezvous (logins fail) and the capacity counters; set maxmemory-policy noeviction in redis.conf (or CONFIG SET maxmemory-policy noeviction, or your provider's parameter group)`,
        )
    }
  } else {
    fail('info', 'server info', `${base}_rendezvous/info ${failed(infoAnswer)} (servers older than 0.2.0 do not have it)`, 'not-routed')
  }

  // --- Creation in every dialect ---
  const payload = 'rendezvous doctor: first message'
  let session: { id: string; url: string; etag: string } | null = null
  const seed = await call('POST', base, { body: payload, headers: { 'content-type': 'text/plain' } })
  if (seed instanceof Error || (seed.status !== 200 && seed.status !== 401)) {
    fail('create-seed', 'create (POST to the prefix)', `${base} ${failed(seed)}`, 'not-routed')
  } else if (seed.status === 401) {
    skip('create-seed', 'create (POST to the prefix)', 'creation needs a token: pass --token to check the exchange')
  } else {
    const body = parseJson(seed.text)
    if (!Value.Check(CreateResponse, body)) {
      fail('create-seed', 'create (POST to the prefix)', `answer is not {"id","max_bytes","url"}: ${seed.text.slice(0, 120)}`, 'not-routed')
    } else {
      const usable = onNamedOrigin(body.url, publicUrl.origin)
      cleanup.push(usable)
      session = { id: body.id, url: usable, etag: seed.headers.get('etag') ?? '' }
      if (checkReturnedUrl('create-seed', 'create (POST to the prefix)', body.url, publicUrl))
        pass('create-seed', 'create (POST to the prefix)', `200 with url ${body.url}`)
    }
  }

  /** A Matrix create path (201 in both older dialects) and where its answer names the session. */
  const createdThrough = async (id: string, title: string, path: string, read: (answer: Answer) => string | null): Promise<boolean> => {
    const answer = await call('POST', `${matrixOrigin}${path}`, {
      body: id === 'create-msc3886' ? '{"doctor":true}' : payload,
      headers: { 'content-type': id === 'create-msc3886' ? 'application/json' : 'text/plain' },
    })
    if (!(answer instanceof Error) && answer.status === 401) return skip(id, title, 'creation needs a token: pass --token')
    if (answer instanceof Error || answer.status !== 201) return fail(id, title, `${matrixOrigin}${path} ${failed(answer)}`, 'not-routed')
    const url = read(answer)
    if (url === null) return fail(id, title, `answer lacks the session URL: ${answer.text.slice(0, 120)}`, 'not-routed')
    cleanup.push(onNamedOrigin(url, matrixOrigin))
    if (!checkReturnedUrl(id, title, url, new URL(matrixOrigin))) return false
    return pass(id, title, `201 with ${url}`)
  }
  const msc3886 = await createdThrough('create-msc3886', 'create (MSC3886 path)', MSC3886_PATH, (a) => a.headers.get('location'))
  const msc4108 = await createdThrough('create-msc4108', 'create (MSC4108 path)', MSC4108_PATH, (a) => {
    const body = parseJson(a.text)
    return Value.Check(Msc4108CreateResponse, body) ? body.url : null
  })

  // MSC4388: discovery, create, read as a script, write.
  const msc4388 = `${matrixOrigin}${MSC4388_PATHS[0]}`
  const discovery = await call('GET', msc4388, { authorized: true })
  const msc4388Routed = !(discovery instanceof Error) && discovery.status === 200
  let msc4388Session: { id: string; token: string } | null = null
  if (discovery instanceof Error || discovery.status !== 200) {
    fail('msc4388', 'MSC4388 exchange', `${msc4388} ${failed(discovery)}`, 'not-routed')
  } else if ((parseJson(discovery.text) as { create_available?: unknown })?.create_available !== true) {
    skip('msc4388', 'MSC4388 exchange', 'discovery says create_available false: pass --token to check creation')
  } else {
    const created = await call('POST', msc4388, { body: JSON.stringify({ data: 'doctor' }), headers: { 'content-type': 'application/json' } })
    const body = created instanceof Error ? null : (parseJson(created.text) as { id?: string; sequence_token?: string } | null)
    if (created instanceof Error || created.status !== 200 || !body?.id || !body.sequence_token) {
      fail('msc4388', 'MSC4388 exchange', `create ${failed(created)}`, 'not-routed')
    } else {
      msc4388Session = { id: body.id, token: body.sequence_token }
      const script = { 'sec-fetch-dest': 'empty', 'sec-fetch-mode': 'cors', 'sec-fetch-site': 'cross-site' }
      const read = await call('GET', `${msc4388}/${body.id}`, { headers: script })
      const written = await call('PUT', `${msc4388}/${body.id}`, {
        body: JSON.stringify({ sequence_token: body.sequence_token, data: 'doctor reply' }),
        headers: { 'content-type': 'application/json' },
      })
      if (read instanceof Error || read.status !== 200) fail('msc4388', 'MSC4388 exchange', `read ${failed(read)}`)
      else if (written instanceof Error || written.status !== 200) fail('msc4388', 'MSC4388 exchange', `write ${failed(written)}`)
      else pass('msc4388', 'MSC4388 exchange', 'discovery, create, read and write answered')
    }
  }

  // The navigation guard must still see Sec-Fetch-*: a rendezvous opened as a page shows nothing.
  const guardedId = msc4388Session?.id ?? session?.id
  if (guardedId && msc4388Routed) {
    const navigation = await call('GET', `${msc4388}/${guardedId}`, {
      headers: { 'sec-fetch-dest': 'document', 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'none', 'sec-fetch-user': '?1' },
    })
    if (!(navigation instanceof Error) && navigation.status === 403)
      pass('navigation-guard', 'navigation guard (Sec-Fetch-*)', 'a browser navigation is refused with 403')
    else if (!(navigation instanceof Error) && navigation.status === 200)
      fail(
        'navigation-guard',
        'navigation guard (Sec-Fetch-*)',
        'a request that looks like a browser navigation got the data: Sec-Fetch-* did not reach the server',
        'sec-fetch-stripped',
      )
    else fail('navigation-guard', 'navigation guard (Sec-Fetch-*)', `${msc4388}/{id} ${failed(navigation)}`, 'not-routed')
  } else {
    skip('navigation-guard', 'navigation guard (Sec-Fetch-*)', 'no rendezvous to look at')
  }

  // --- CORS preflights on every create path and on a session ---
  const preflights: [string, string][] = [
    [base, 'POST'],
    [`${base}${UNKNOWN_ID}`, 'PUT'],
    ...(msc3886 ? [[`${matrixOrigin}${MSC3886_PATH}`, 'POST'] as [string, string]] : []),
    ...(msc4108 ? [[`${matrixOrigin}${MSC4108_PATH}`, 'POST'] as [string, string]] : []),
    ...(msc4388Routed ? [[msc4388, 'POST'] as [string, string]] : []),
  ]
  const preflightProblems: string[] = []
  for (const [url, method] of preflights) {
    const answer = await call('OPTIONS', url, {
      headers: { 'access-control-request-method': method, 'access-control-request-headers': REQUESTED_HEADERS.join(', ') },
    })
    if (answer instanceof Error) {
      preflightProblems.push(`${url}: ${failed(answer)}`)
      continue
    }
    const methods = listOf(answer.headers.get('access-control-allow-methods'))
    const allowed = listOf(answer.headers.get('access-control-allow-headers'))
    const missing = [
      ...(methods.includes(method.toLowerCase()) ? [] : [method]),
      ...REQUESTED_HEADERS.filter((h) => !allowed.includes(h) && !allowed.includes('*')),
    ]
    if (answer.status !== 204 && answer.status !== 200) preflightProblems.push(`${url}: ${answer.status}`)
    else if (answer.headers.get('access-control-allow-origin') !== '*' && answer.headers.get('access-control-allow-origin') !== ORIGIN)
      preflightProblems.push(`${url}: no Access-Control-Allow-Origin`)
    else if (missing.length > 0) preflightProblems.push(`${url}: does not allow ${missing.join(', ')}`)
  }
  if (preflightProblems.length === 0)
    pass('cors-preflight', 'CORS preflights', `${preflights.length} paths allow ${REQUESTED_HEADERS.join(', ')} from any origin`)
  else fail('cors-preflight', 'CORS preflights', preflightProblems.join('; '), 'cors-by-proxy')

  if (!session) {
    for (const [id, title] of [
      ['etags', 'ETags on 200, 202 and 304'],
      ['conditional-writes', 'conditional writes'],
      ['cors-answers', 'CORS on answers'],
      ['long-poll', 'long-poll wake-up'],
      ['full-wait', 'long-poll held for the whole wait'],
      ['max-bytes', 'max_bytes'],
      ['cleanup', 'cleanup'],
    ] as const) {
      skip(id, title, 'no rendezvous to check with')
    }
    await deleteAll(cleanup, msc4388Session, msc4388, call)
    return results
  }

  // --- ETags, dates and encodings on 200, 202 and 304 ---
  const url = session.url
  const problems: { text: string; mistake: MistakeId }[] = []
  const look = (what: string, answer: Answer | Error, status: number, etag?: string): Answer | null => {
    if (answer instanceof Error || answer.status !== status) {
      problems.push({ text: `${what}: expected ${status}, ${failed(answer)}`, mistake: 'not-routed' })
      return null
    }
    const encoding = answer.headers.get('content-encoding')
    const got = answer.headers.get('etag')
    if (encoding) problems.push({ text: `${what} came compressed (${encoding})`, mistake: 'compression' })
    if (got === null) problems.push({ text: `${what} has no ETag`, mistake: 'etag-dropped' })
    else if (got.startsWith('W/')) problems.push({ text: `${what} has a weak ETag ${got}`, mistake: 'compression' })
    else if (etag !== undefined && got !== etag) problems.push({ text: `${what} has ETag ${got}, expected ${etag}`, mistake: 'etag-dropped' })
    if (!answer.headers.get('expires') || !answer.headers.get('last-modified'))
      problems.push({ text: `${what} lacks Expires or Last-Modified`, mistake: 'etag-dropped' })
    return answer
  }
  look('the create answer', seed as Answer, 200)
  const first = look('GET (200)', await call('GET', url), 200, session.etag)
  if (first && first.text !== payload)
    problems.push({ text: `GET returned ${JSON.stringify(first.text.slice(0, 60))}, not what was written`, mistake: 'not-routed' })
  look('GET with If-None-Match (304)', await call('GET', url, { headers: { 'if-none-match': session.etag } }), 304, session.etag)
  const reply = 'rendezvous doctor: reply'
  const written = look('PUT (202)', await call('PUT', url, { body: reply, headers: { 'if-match': session.etag, 'content-type': 'text/plain' } }), 202)
  const replyEtag = written?.headers.get('etag') ?? null
  if (replyEtag) look('GET after the PUT (200)', await call('GET', url), 200, replyEtag)
  if (problems.length === 0) pass('etags', 'ETags on 200, 202 and 304', 'strong, byte-identical, with Expires and Last-Modified, never compressed')
  else fail('etags', 'ETags on 200, 202 and 304', problems.map((p) => p.text).join('; '), problems[0]!.mistake)

  // --- Conditional writes: stale refused, exact retry accepted ---
  const stale = await call('PUT', url, { body: 'a stale write', headers: { 'if-match': session.etag, 'content-type': 'text/plain' } })
  const retry = await call('PUT', url, { body: reply, headers: { 'if-match': session.etag, 'content-type': 'text/plain' } })
  if (stale instanceof Error || stale.status !== 412)
    fail('conditional-writes', 'conditional writes', `a PUT with a stale If-Match ${failed(stale)}, expected 412`)
  else if (retry instanceof Error || retry.status !== 202 || (replyEtag !== null && retry.headers.get('etag') !== replyEtag))
    fail(
      'conditional-writes',
      'conditional writes',
      `a retry of the last PUT ${failed(retry)}, expected 202 with the current ETag (servers older than 0.2.0 answer 412)`,
    )
  else pass('conditional-writes', 'conditional writes', 'stale If-Match 412; an exact retry 202 with the current ETag')
  const current = replyEtag ?? session.etag

  // --- CORS on answers, errors included ---
  const corsProblems: string[] = []
  const missingError = await call('GET', `${base}${UNKNOWN_ID}`)
  for (const [what, answer] of [
    ['the create answer', seed],
    ['a 404 error', missingError],
  ] as const) {
    if (answer instanceof Error) continue
    const exposed = listOf(answer.headers.get('access-control-expose-headers'))
    const missing = EXPOSED.filter((h) => !exposed.includes(h))
    if (answer.headers.get('access-control-allow-origin') !== '*') corsProblems.push(`${what} lacks Access-Control-Allow-Origin: *`)
    if (missing.length > 0) corsProblems.push(`${what} does not expose ${missing.join(', ')}`)
  }
  if (!(missingError instanceof Error) && !missingError.text.includes('M_NOT_FOUND'))
    corsProblems.push(`a 404 for an unknown id is not the server's JSON error: ${missingError.text.slice(0, 80)}`)
  if (corsProblems.length === 0) pass('cors-answers', 'CORS on answers', 'Access-Control-Allow-Origin and Expose-Headers on answers and errors')
  else fail('cors-answers', 'CORS on answers', corsProblems.join('; '), 'cors-headers-stripped')

  // --- Streamed parts pass as they come ---
  const probeUrl = `${base}_rendezvous/probe`
  const checkUnbuffered = async (): Promise<boolean> => {
    const title = 'answers pass unbuffered'
    const started = performance.now()
    const probe = await fetch(probeUrl, {
      headers: { origin: ORIGIN, 'accept-encoding': ACCEPT_ENCODING },
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
      ...transport,
    } as RequestInit)
    if (probe.status !== 200) {
      await probe.body?.cancel()
      const redirect = probe.status >= 300 && probe.status < 400 ? `, a redirect to ${probe.headers.get('location') ?? '(no Location)'}, not followed` : ''
      return fail('unbuffered', title, `${probeUrl} answered ${probe.status}${redirect}`, 'not-routed')
    }
    const reader = probe.body!.getReader()
    await reader.read()
    const firstPartMs = performance.now() - started
    while (!(await reader.read()).done);
    const encoding = probe.headers.get('content-encoding')
    if (firstPartMs > STREAM_LATE_MS)
      return fail(
        'unbuffered',
        title,
        `the probe's first part, sent at once, arrived after ${Math.round(firstPartMs)} ms${encoding ? ` (compressed: ${encoding})` : ''}`,
        encoding ? 'compression' : 'buffering',
      )
    return pass('unbuffered', title, `first part after ${Math.round(firstPartMs)} ms`)
  }
  await checkUnbuffered().catch((error: Error) => fail('unbuffered', 'answers pass unbuffered', `${probeUrl}: ${error.message}`, 'not-routed'))

  // --- Long-poll: woken within a second of the write ---
  const wait = Math.min(maxWait, 20)
  let latest = current
  if (wait === 0) {
    skip('long-poll', 'long-poll wake-up', 'the server allows no long-poll wait (RENDEZVOUS_MAX_WAIT_SECONDS=0)')
  } else {
    const held = call('GET', url, { headers: { 'if-none-match': current, prefer: `wait=${wait}` }, timeoutMs: (wait + 15) * 1000 })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const wake = await call('PUT', url, { body: 'rendezvous doctor: wake', headers: { 'if-match': current, 'content-type': 'text/plain' } })
    const wokenAt = performance.now()
    const answer = await held
    const lateMs = performance.now() - wokenAt
    if (!(wake instanceof Error)) latest = wake.headers.get('etag') ?? latest
    if (answer instanceof Error || wake instanceof Error)
      fail('long-poll', 'long-poll wake-up', `${failed(answer instanceof Error ? answer : (wake as Error))}`, 'read-timeout')
    else if (answer.status === 304 && !answer.headers.get('preference-applied'))
      fail(
        'long-poll',
        'long-poll wake-up',
        'a GET with Prefer: wait answered at once without Preference-Applied: the Prefer header did not reach the server',
        'not-routed',
      )
    else if (answer.status !== 200) fail('long-poll', 'long-poll wake-up', `the held GET ended ${answer.status}, not 200 with the write`, 'read-timeout')
    else if (lateMs > WAKE_LATE_MS) fail('long-poll', 'long-poll wake-up', `the held GET answered ${Math.round(lateMs)} ms after the write`, 'buffering')
    else pass('long-poll', 'long-poll wake-up', `held GET woken ${Math.round(lateMs)} ms after the write`)
  }

  // --- max_bytes: the proxy takes bodies of the advertised size ---
  const largest = await call('PUT', url, { body: new Uint8Array(maxBytes).fill(0x61), headers: { 'content-type': 'application/octet-stream' } })
  if (!(largest instanceof Error) && largest.status === 202) {
    latest = largest.headers.get('etag') ?? latest
    pass('max-bytes', 'max_bytes', `a ${maxBytes}-byte write was accepted`)
  } else if (!(largest instanceof Error) && largest.status === 413 && !largest.text.includes('M_TOO_LARGE')) {
    fail(
      'max-bytes',
      'max_bytes',
      `a ${maxBytes}-byte write (the advertised max_bytes) was refused by something other than the server: ${largest.text.slice(0, 80)}`,
      'body-limit',
    )
  } else {
    fail('max-bytes', 'max_bytes', `a ${maxBytes}-byte write ${failed(largest)}`)
  }

  // --- A long-poll held for the server's whole wait is not cut by the proxy ---
  if (options.fullWait === false || maxWait === 0) {
    skip('full-wait', 'long-poll held for the whole wait', options.fullWait === false ? 'skipped (--quick)' : 'the server allows no wait')
  } else {
    const answer = await call('GET', url, { headers: { 'if-none-match': latest, prefer: `wait=${maxWait}` }, timeoutMs: (maxWait + 20) * 1000 })
    const seconds = answer instanceof Error ? 0 : Math.round(answer.elapsedMs / 100) / 10
    if (!(answer instanceof Error) && answer.status === 304 && answer.headers.get('preference-applied') === `wait=${maxWait}`) {
      pass('full-wait', 'long-poll held for the whole wait', `304 after ${seconds} s (the server's wait is ${maxWait} s)`)
    } else {
      fail(
        'full-wait',
        'long-poll held for the whole wait',
        `a GET waiting ${maxWait} s ${failed(answer)}${answer instanceof Error ? '' : ` after ${seconds} s`}`,
        'read-timeout',
      )
    }
  }

  await deleteAll(cleanup, msc4388Session, msc4388, call, (ok, detail) => (ok ? pass('cleanup', 'cleanup', detail) : fail('cleanup', 'cleanup', detail)))
  return results
}

/** Deletes every rendezvous the run created. */
async function deleteAll(
  urls: readonly string[],
  msc4388Session: { id: string } | null,
  msc4388: string,
  call: (method: string, url: string) => Promise<Answer | Error>,
  report?: (ok: boolean, detail: string) => void,
): Promise<void> {
  const targets = [...urls, ...(msc4388Session ? [`${msc4388}/${msc4388Session.id}`] : [])]
  const answers = await Promise.all(targets.map((url) => call('DELETE', url)))
  const left = targets.filter((_, i) => {
    const answer = answers[i]!
    return answer instanceof Error || (answer.status !== 204 && answer.status !== 200)
  })
  report?.(left.length === 0, left.length === 0 ? `deleted the ${targets.length} rendezvous it created` : `could not delete ${left.join(', ')}`)
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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}

function listOf(header: string | null): string[] {
  return (header ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '')
}
