/**
 * @module Header names and the fixed header values of docs/protocol.md#headers and #cors.
 */

export const Header = {
  accessControlAllowHeaders: 'access-control-allow-headers',
  accessControlAllowMethods: 'access-control-allow-methods',
  accessControlAllowOrigin: 'access-control-allow-origin',
  accessControlExposeHeaders: 'access-control-expose-headers',
  accessControlMaxAge: 'access-control-max-age',
  allow: 'allow',
  authorization: 'authorization',
  cacheControl: 'cache-control',
  connection: 'connection',
  contentLength: 'content-length',
  contentSecurityPolicy: 'content-security-policy',
  contentType: 'content-type',
  etag: 'etag',
  expires: 'expires',
  ifMatch: 'if-match',
  ifNoneMatch: 'if-none-match',
  lastModified: 'last-modified',
  location: 'location',
  pragma: 'pragma',
  prefer: 'prefer',
  preferenceApplied: 'preference-applied',
  referrerPolicy: 'referrer-policy',
  retryAfter: 'retry-after',
  xContentTypeOptions: 'x-content-type-options',
  xForwardedFor: 'x-forwarded-for',
  xForwardedHost: 'x-forwarded-host',
  xForwardedProto: 'x-forwarded-proto',
  xMaxBytes: 'x-max-bytes',
} as const

/** Proxies that cache or compress must leave payloads and ETags alone. */
export const NO_STORE = 'no-store, no-transform'

/**
 * Sent with every API response: a payload opened in a browser tab can run nothing, load nothing
 * and is never sniffed into HTML.
 */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"

export const CORS_ALLOW_METHODS = 'GET, PUT, POST, DELETE'
/** `Authorization` for MSC4388 clients (and every create path when create auth is on). */
export const CORS_ALLOW_HEADERS = 'Authorization, Content-Type, If-Match, If-None-Match, Prefer'
export const CORS_EXPOSE_HEADERS = 'ETag, Expires, Last-Modified, Location, X-Max-Bytes, Retry-After, Preference-Applied'
