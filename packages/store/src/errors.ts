/**
 * @module The one fault a caller is expected to handle: the store's backend cannot be reached right
 * now. The server answers it with 503 and `Retry-After`; anything else a store throws is a bug.
 */

export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError'

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}
