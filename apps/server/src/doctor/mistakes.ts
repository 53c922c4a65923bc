/**
 * @module What goes wrong between clients and the server, as the doctor names it: each mistake with
 * what the user sees, why, and the fix in nginx, Caddy and HAProxy (the recipes in `deploy/`).
 */

export interface Mistake {
  /** What is wrong, in one line. */
  readonly cause: string
  readonly fixes: { readonly nginx: string; readonly caddy: string; readonly haproxy: string }
}

export const MISTAKES = {
  'not-routed': {
    cause: 'the path does not reach the rendezvous server (the proxy sends it elsewhere, or nowhere)',
    fixes: {
      nginx:
        'route it to the server: `location / { proxy_pass http://rendezvous; ... }` (deploy/nginx.conf), or the Matrix rendezvous location for the homeserver domain',
      caddy: 'route it to the server: `reverse_proxy 127.0.0.1:8080` in the site block (deploy/Caddyfile)',
      haproxy: 'route it to the server: `use_backend rendezvous if { path_beg /_matrix/client/ ... }` or `default_backend rendezvous` (deploy/haproxy.cfg)',
    },
  },
  'host-not-forwarded': {
    cause: 'returned URLs carry the host the proxy used to reach the server, not the one clients use: the Host header is not forwarded',
    fixes: {
      nginx: '`proxy_set_header Host $host;` and `proxy_set_header X-Forwarded-Host $host;` (or set RENDEZVOUS_PUBLIC_BASE_URL)',
      caddy: 'Caddy forwards Host by default: remove any `header_up Host ...` from reverse_proxy (or set RENDEZVOUS_PUBLIC_BASE_URL)',
      haproxy: 'HAProxy keeps Host by default: remove any `http-request set-header Host ...` (or set RENDEZVOUS_PUBLIC_BASE_URL)',
    },
  },
  'proto-not-forwarded': {
    cause: 'returned URLs use http while clients use https: X-Forwarded-Proto is not forwarded, or the server does not trust the proxy',
    fixes: {
      nginx: '`proxy_set_header X-Forwarded-Proto $scheme;` and RENDEZVOUS_TRUST_PROXY set to the proxy address (or RENDEZVOUS_PUBLIC_BASE_URL=https://…)',
      caddy: 'Caddy sends X-Forwarded-Proto by default: set RENDEZVOUS_TRUST_PROXY to its address (or RENDEZVOUS_PUBLIC_BASE_URL=https://…)',
      haproxy: '`http-request set-header X-Forwarded-Proto https if { ssl_fc }` and RENDEZVOUS_TRUST_PROXY set to the proxy address',
    },
  },
  compression: {
    cause: 'the proxy compresses rendezvous answers, which weakens or drops their ETags (and holds streamed parts back)',
    fixes: {
      nginx: '`gzip off;` (and no `brotli`) in the rendezvous locations',
      caddy: 'no `encode` directive for the rendezvous paths',
      haproxy: 'no `compression` / `filter compression` in the rendezvous frontend or backend',
    },
  },
  buffering: {
    cause:
      "something on the way (a proxy's buffering, a CDN) holds an answer back until it has all of it: streamed parts, and any answer written in parts, arrive late",
    fixes: {
      nginx: '`proxy_buffering off;` and `gzip off;` in the rendezvous locations',
      caddy: '`flush_interval -1` in reverse_proxy, and no `encode`',
      haproxy: 'HAProxy passes answers as they come: look for a cache, a compression filter, or a CDN in front',
    },
  },
  'read-timeout': {
    cause: "the proxy gives up on a held long-poll before the server's longest wait is over",
    fixes: {
      nginx: '`proxy_read_timeout 75s;` (above RENDEZVOUS_MAX_WAIT_SECONDS), and `send_timeout` likewise',
      caddy: 'no `read_timeout` below the wait in `transport http { ... }` (Caddy has none by default)',
      haproxy: '`timeout server 75s` and `timeout client 75s` (above RENDEZVOUS_MAX_WAIT_SECONDS)',
    },
  },
  'cors-by-proxy': {
    cause: 'the proxy answers CORS preflights itself, without the methods and headers clients send, so browsers refuse the real request',
    fixes: {
      nginx:
        'remove `if ($request_method = OPTIONS) { ... return 204; }` and `add_header Access-Control-*` from the rendezvous locations: the server answers preflights',
      caddy: 'remove `@options method OPTIONS` / `respond @options` and `header Access-Control-*` from the rendezvous paths',
      haproxy: 'remove `http-request return ... if METH_OPTIONS` and `http-response set-header Access-Control-*` for the rendezvous paths',
    },
  },
  'cors-headers-stripped': {
    cause: "answers lack the server's CORS headers, so browsers cannot read ETags, Location or errors",
    fixes: {
      nginx: 'do not `proxy_hide_header` Access-Control-* headers',
      caddy: 'do not remove Access-Control-* headers with `header_down -…`',
      haproxy: 'do not `http-response del-header` Access-Control-* headers',
    },
  },
  'etag-dropped': {
    cause: 'answers reach the client without their ETag, Expires or Last-Modified (a cache or CDN strips them), so clients re-deliver old messages',
    fixes: {
      nginx: 'do not `proxy_hide_header` ETag; no `proxy_cache` on the rendezvous paths',
      caddy: 'no `header_down -ETag`; no cache handler on the rendezvous paths',
      haproxy: 'no `http-response del-header etag`; no `cache` on the rendezvous backend',
    },
  },
  'sec-fetch-stripped': {
    cause: 'the proxy removes Sec-Fetch-* request headers, so a rendezvous link opened in a browser shows its data',
    fixes: {
      nginx: 'do not clear Sec-Fetch-* with `proxy_set_header Sec-Fetch-… ""`',
      caddy: 'do not remove Sec-Fetch-* with `header_up -Sec-Fetch-*`',
      haproxy: 'do not `http-request del-header sec-fetch-*`',
    },
  },
  'body-limit': {
    cause: 'the proxy refuses request bodies smaller than the max_bytes the server advertises',
    fixes: {
      nginx: '`client_max_body_size 64k;` (above RENDEZVOUS_MAX_BYTES)',
      caddy: '`request_body { max_size 64KB }` or none (above RENDEZVOUS_MAX_BYTES)',
      haproxy: 'no body-size rule below RENDEZVOUS_MAX_BYTES (`http-request deny if { req.body_size gt … }`)',
    },
  },
} as const satisfies Record<string, Mistake>

export type MistakeId = keyof typeof MISTAKES
