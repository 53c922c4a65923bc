/**
 * @module The client halves Matrix clients ship, bundled for the browser test (`bun build`): a
 * MatrixClient for homeserver discovery, matrix-js-sdk 30.3.0's MSC3886 transport and 37.5.0's
 * MSC4108 session. The test page reads them from `window.sdk`.
 */

import { createClient } from 'matrix-js-sdk-37'
import { logger } from 'matrix-js-sdk-37/lib/logger.js'
import { MSC4108RendezvousSession } from 'matrix-js-sdk-37/lib/rendezvous/transports/MSC4108RendezvousSession.js'
import * as msc3886 from 'matrix-js-sdk-30/lib/rendezvous/transports/MSC3886SimpleHttpRendezvousTransport.js'

;(logger as unknown as { setLevel(level: string): void }).setLevel('silent')

Object.assign(globalThis, {
  sdk: {
    createClient,
    MSC4108RendezvousSession,
    MSC3886SimpleHttpRendezvousTransport: (msc3886 as { MSC3886SimpleHttpRendezvousTransport: unknown }).MSC3886SimpleHttpRendezvousTransport,
  },
})
