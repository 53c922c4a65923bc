/**
 * @module Where each Matrix dialect lives under a homeserver's client API (docs/protocol.md#matrix-dialects).
 */

/** The create endpoint of MSC3886 (matrix-js-sdk's simple HTTP transport, Element iOS). */
export const MSC3886_PATH = '/_matrix/client/unstable/org.matrix.msc3886/rendezvous'
/** The create endpoint of MSC4108 (2024). */
export const MSC4108_PATH = '/_matrix/client/unstable/org.matrix.msc4108/rendezvous'
/** Where MSC4388 lives: the stable path and the unstable prefix clients used before it. */
export const MSC4388_PATHS = ['/_matrix/client/v1/rendezvous', '/_matrix/client/unstable/io.element.msc4388/rendezvous'] as const
