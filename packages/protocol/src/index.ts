/**
 * @module @rendezvous/protocol: the wire contract shared by the store, the server and the bench.
 * Pure functions and constants only; nothing here performs I/O.
 */

// --- Defaults ---
export * from './defaults.ts'
export { MSC3886_PATH, MSC4108_PATH } from './matrix-paths.ts'

// --- Headers ---
export { Header, NO_STORE, CONTENT_SECURITY_POLICY, CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_EXPOSE_HEADERS } from './headers.ts'
export { formatHttpDate, parseHttpDate } from './http-date.ts'
export {
  type EntityTag,
  type EntityTagCondition,
  type ParsedCondition,
  MAX_ETAG_LENGTH,
  conditionMatches,
  isEntityTag,
  parseEntityTagCondition,
  strongTagCondition,
} from './entity-tag.ts'
export { parsePrefer, parsePreferWait } from './prefer.ts'

// --- Bodies and errors ---
export { CreateResponse, ErrorBody, HealthResponse, Msc4108CreateResponse, RENDEZVOUS_ID_PATTERN, ServerInfo, isRendezvousId } from './schemas.ts'
export {
  MSC4388_MAX_DATA_BYTES,
  MSC4388_PATHS,
  Msc4388CreateRequest,
  Msc4388CreateResponse,
  Msc4388Discovery,
  Msc4388ReadResponse,
  Msc4388UpdateRequest,
  Msc4388UpdateResponse,
  OPAQUE_ID_PATTERN,
  etagOfSequenceToken,
  isBrowserNavigation,
  isOpaqueIdentifier,
  sequenceTokenOf,
} from './msc4388.ts'
export {
  ERRORS,
  ErrorCode,
  type ErrcodeNames,
  type ErrorBodyOptions,
  type ErrorKind,
  MSC4108_ERRCODE_FIELD,
  MSC4388_UNSTABLE_ERRCODES,
  errorBody,
} from './errors.ts'
