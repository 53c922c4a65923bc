/**
 * @module `rendezvous doctor <public URL>` (`bun run doctor`): runs the checks and prints one line
 * each, ✔ or ✘ (– when skipped), with the cause and the fix for nginx, Caddy and HAProxy under
 * every ✘; `--json` prints the results as JSON instead. Exit code 0 only when nothing failed.
 */

import { readSecretFile } from '../config.ts'
import { type CheckResult, type DoctorOptions, runChecks } from './checks.ts'
import { MISTAKES } from './mistakes.ts'

const USAGE = `Usage: rendezvous doctor <public URL> [options]

Checks, from outside and through the real path (proxy, CDN, TLS), that Matrix clients can use the
rendezvous server at <public URL> (where POST creates, e.g. https://rendezvous.example.org/).
A handful of requests; everything created is deleted. One long-poll is held for the server's
longest wait (30 s by default) unless --quick.

Options:
  --json                 print the results as JSON
  --matrix-origin URL    where the Matrix rendezvous paths are served (default: the URL's origin)
  --token-file PATH      bearer token for creating, when the server requires one, read from a file
                         (or from the environment: RENDEZVOUS_DOCTOR_TOKEN)
  --token TOKEN          the same on the command line, where every user of this machine sees it in ps
  --quick                skip holding a long-poll for the whole wait
  --insecure             accept a TLS certificate that does not verify (test setups)
  --help                 print this help

Requests go only to <public URL>'s origin and the --matrix-origin: a URL the server returns on
another host is reported and not visited, and redirects are reported, not followed.

Exit code: 0 when every check passed, 1 when one failed, 2 for bad arguments.`

/** Where the doctor's token may come from without showing in \`ps\`. */
const DOCTOR_TOKEN_ENV = 'RENDEZVOUS_DOCTOR_TOKEN'

export async function runDoctor(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Promise<number> {
  const parsed = parseArguments(argv, env)
  if (parsed === 'help') {
    console.log(USAGE)
    return 0
  }
  if (typeof parsed === 'string') {
    console.error(`rendezvous doctor: ${parsed} (see --help)`)
    return 2
  }
  const { json, ...options } = parsed
  if (!json) console.log(`rendezvous doctor: ${options.url}\n`)
  const results = await runChecks({ ...options, onResult: json ? undefined : (result) => console.log(formatResult(result)) })
  const counts = { passed: count(results, 'pass'), failed: count(results, 'fail'), skipped: count(results, 'skip') }
  if (json) {
    const detailed = results.map((r) => (r.mistake ? { ...r, cause: MISTAKES[r.mistake].cause, fixes: MISTAKES[r.mistake].fixes } : r))
    console.log(JSON.stringify({ url: options.url, ...counts, checks: detailed }, null, 2))
  } else {
    console.log(`\n${results.length} checks: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`)
  }
  return counts.failed === 0 ? 0 : 1
}

/** One check for a person: ✔/✘/– and its title, then for a ✘ what was seen, the cause and the fixes. */
function formatResult(result: CheckResult): string {
  const mark = { pass: '✔', fail: '✘', skip: '–' }[result.status]
  const lines = [`${mark} ${result.title}: ${result.detail}`]
  if (result.status === 'fail' && result.mistake) {
    const mistake = MISTAKES[result.mistake]
    lines.push(
      `    mistake: ${result.mistake}: ${mistake.cause}`,
      `    nginx:   ${mistake.fixes.nginx}`,
      `    Caddy:   ${mistake.fixes.caddy}`,
      `    HAProxy: ${mistake.fixes.haproxy}`,
    )
  }
  return lines.join('\n')
}

function count(results: readonly CheckResult[], status: CheckResult['status']): number {
  return results.filter((r) => r.status === status).length
}

type Parsed = (Omit<DoctorOptions, 'onResult'> & { readonly json: boolean }) | 'help' | string

function parseArguments(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Parsed {
  let url: string | undefined
  let json = false
  let quick = false
  let insecure = false
  let token: string | null = env[DOCTOR_TOKEN_ENV] || null
  let matrixOrigin: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    switch (arg) {
      case '--help':
      case '-h':
        return 'help'
      case '--json':
        json = true
        break
      case '--quick':
        quick = true
        break
      case '--insecure':
        insecure = true
        break
      case '--token':
        token = argv[++i] ?? null
        if (token === null) return '--token needs a value'
        console.error(`rendezvous doctor: warning: a token given as --token shows in ps to every user of this machine; use --token-file or ${DOCTOR_TOKEN_ENV}`)
        break
      case '--token-file': {
        const path = argv[++i]
        if (path === undefined) return '--token-file needs a path'
        try {
          token = readSecretFile(path).trim()
        } catch (error) {
          return `cannot read --token-file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`
        }
        if (token === '') return `--token-file ${path} is empty`
        break
      }
      case '--matrix-origin':
        matrixOrigin = argv[++i]
        if (matrixOrigin === undefined || !isHttpUrl(matrixOrigin)) return '--matrix-origin needs an http(s) URL'
        break
      default:
        if (arg.startsWith('--')) return `unknown option ${arg}`
        if (url !== undefined) return 'only one URL'
        url = arg
    }
  }
  if (url === undefined) return 'which URL? e.g. rendezvous doctor https://rendezvous.example.org/'
  if (!isHttpUrl(url)) return `${JSON.stringify(url)} is not an http(s) URL`
  return { url, json, token, insecure, fullWait: !quick, ...(matrixOrigin ? { matrixOrigin } : {}) }
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}
