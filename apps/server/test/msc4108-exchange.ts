/**
 * @module The MSC4108 exchange of matrix-js-sdk 37.5.0 between two devices, shared by the tests that
 * run it directly and through nginx.
 */

import { expect } from 'vitest'
import { logger } from 'matrix-js-sdk-37/lib/logger.js'
import { MSC4108RendezvousSession } from 'matrix-js-sdk-37/lib/rendezvous/transports/MSC4108RendezvousSession.js'

// The SDK logs every request at info; keep test output readable.
;(logger as unknown as { setLevel(level: string): void }).setLevel('silent')

/**
 * Device A creates (through `client`'s Matrix path when it offers MSC4108, else `fallbackRzServer`),
 * B joins by URL; they send, receive, reply and receive, then A cancels and B sees the rendezvous
 * gone. Returns the session URL.
 */
export async function runMsc4108Exchange(options: {
  fallbackRzServer: string
  client?: unknown
  /** Where device B reaches the session (default: the URL A got), e.g. another instance. */
  joinUrl?: (url: string) => string
}): Promise<string> {
  const failures: string[] = []
  const a = new MSC4108RendezvousSession({
    client: options.client as never,
    fallbackRzServer: options.fallbackRzServer,
    onFailure: (reason: string) => failures.push(`a:${reason}`),
  })
  await a.send('hello from A')
  const url = a.url!
  const b = new MSC4108RendezvousSession({ url: options.joinUrl?.(url) ?? url, onFailure: (reason) => failures.push(`b:${reason}`) })
  expect(await b.receive()).toBe('hello from A')
  await b.send('hello from B')
  expect(await a.receive()).toBe('hello from B')
  await a.send('reply from A')
  expect(await b.receive()).toBe('reply from A')

  await a.cancel('user_cancelled' as never)
  expect(await b.receive()).toBeUndefined()
  expect(failures).toEqual(['a:user_cancelled', 'b:unknown'])
  return url
}
