/**
 * @module A minimal HTTP/1.1 client over raw TCP for load generation. `fetch` spends more CPU per
 * request than the server under test; this client only formats a request line and headers and
 * parses the status line, headers and a Content-Length body, so it can outrun the server.
 */

import type { Socket } from 'bun'

export interface HttpResponse {
  readonly status: number
  /** Header names lower-cased. */
  readonly headers: ReadonlyMap<string, string>
  readonly body: Uint8Array
}

export interface HttpRequest {
  readonly method: string
  /** Path and query, e.g. `/abc`. */
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: Uint8Array
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('latin1')
const HEAD_END = [13, 10, 13, 10]

interface Pending {
  resolve(response: HttpResponse): void
  reject(error: Error): void
  /** HEAD responses and 1xx/204/304 have no body whatever their headers say. */
  readonly bodiless: boolean
}

/** One keep-alive connection carrying one request at a time. */
export class HttpConnection {
  #socket: Socket<undefined> | null = null
  #buffer: Uint8Array = new Uint8Array(0)
  #pending: Pending | null = null
  #closed = false
  readonly host: string
  readonly port: number

  private constructor(host: string, port: number) {
    this.host = host
    this.port = port
  }

  static async open(host: string, port: number): Promise<HttpConnection> {
    const connection = new HttpConnection(host, port)
    connection.#socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_socket, chunk) => connection.#onData(chunk),
        close: () => connection.#onClose(new Error('connection closed by server')),
        error: (_socket, error) => connection.#onClose(error),
      },
    })
    connection.#socket.setNoDelay(true)
    return connection
  }

  get closed(): boolean {
    return this.#closed
  }

  get busy(): boolean {
    return this.#pending !== null
  }

  request(request: HttpRequest): Promise<HttpResponse> {
    if (this.#closed || !this.#socket) return Promise.reject(new Error('connection closed'))
    if (this.#pending) return Promise.reject(new Error('connection busy'))
    let head = `${request.method} ${request.path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\n`
    for (const [name, value] of Object.entries(request.headers ?? {})) head += `${name}: ${value}\r\n`
    if (request.body !== undefined) head += `content-length: ${request.body.byteLength}\r\n`
    head += '\r\n'
    const promise = new Promise<HttpResponse>((resolve, reject) => {
      this.#pending = { resolve, reject, bodiless: request.method === 'HEAD' }
    })
    const headBytes = encoder.encode(head)
    if (request.body && request.body.byteLength > 0) {
      const all = new Uint8Array(headBytes.byteLength + request.body.byteLength)
      all.set(headBytes)
      all.set(request.body, headBytes.byteLength)
      this.#write(all)
    } else {
      this.#write(headBytes)
    }
    return promise
  }

  close(): void {
    this.#closed = true
    this.#socket?.end()
  }

  #write(bytes: Uint8Array): void {
    const written = this.#socket!.write(bytes)
    // Requests are small; a short write only happens under extreme pressure. Send the rest in order.
    if (written < bytes.byteLength) this.#socket!.write(bytes.subarray(written))
  }

  #onData(chunk: Uint8Array): void {
    this.#buffer = this.#buffer.byteLength === 0 ? new Uint8Array(chunk) : concat(this.#buffer, chunk)
    this.#tryParse()
  }

  #tryParse(): void {
    const pending = this.#pending
    if (!pending) return
    const headEnd = indexOf(this.#buffer, HEAD_END)
    if (headEnd < 0) return
    const headText = decoder.decode(this.#buffer.subarray(0, headEnd))
    const lines = headText.split('\r\n')
    const status = Number(lines[0]!.slice(9, 12))
    const headers = new Map<string, string>()
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!
      const colon = line.indexOf(':')
      if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim())
    }
    const bodiless = pending.bodiless || status === 204 || status === 304 || status < 200
    const length = bodiless ? 0 : Number(headers.get('content-length') ?? 0)
    const bodyStart = headEnd + 4
    if (this.#buffer.byteLength < bodyStart + length) return
    const body = this.#buffer.slice(bodyStart, bodyStart + length)
    this.#buffer = this.#buffer.subarray(bodyStart + length)
    this.#pending = null
    if (headers.get('connection')?.toLowerCase() === 'close') this.close()
    pending.resolve({ status, headers, body })
  }

  #onClose(error: Error): void {
    this.#closed = true
    const pending = this.#pending
    this.#pending = null
    pending?.reject(error)
  }
}

/**
 * Up to `max` keep-alive connections to one server, handed out one request at a time. Requests
 * beyond `max` wait in line; their latency is measured from when they get a connection.
 */
export class HttpPool {
  readonly #idle: HttpConnection[] = []
  readonly #waiting: ((connection: HttpConnection | null) => void)[] = []
  #open = 0
  #opening = 0
  readonly host: string
  readonly port: number
  readonly max: number

  constructor(host: string, port: number, max: number) {
    this.host = host
    this.port = port
    this.max = max
  }

  /** Sends `request` on a pooled connection, retrying once on a connection the server had closed. */
  async send(request: HttpRequest): Promise<HttpResponse> {
    const connection = await this.#acquire()
    try {
      return await connection.request(request)
    } finally {
      this.#release(connection)
    }
  }

  get openConnections(): number {
    return this.#open
  }

  close(): void {
    for (const connection of this.#idle.splice(0)) connection.close()
  }

  async #acquire(): Promise<HttpConnection> {
    while (this.#idle.length > 0) {
      const connection = this.#idle.pop()!
      if (!connection.closed) return connection
      this.#open--
    }
    if (this.#open + this.#opening < this.max) {
      this.#opening++
      try {
        const connection = await HttpConnection.open(this.host, this.port)
        this.#open++
        return connection
      } finally {
        this.#opening--
      }
    }
    const connection = await new Promise<HttpConnection | null>((resolve) => this.#waiting.push(resolve))
    return connection ?? this.#acquire()
  }

  #release(connection: HttpConnection): void {
    if (connection.closed) {
      this.#open--
      // A slot freed up: let the next waiter open a fresh connection.
      this.#waiting.shift()?.(null)
      return
    }
    const next = this.#waiting.shift()
    if (next) next(connection)
    else this.#idle.push(connection)
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a)
  out.set(b, a.byteLength)
  return out
}

function indexOf(haystack: Uint8Array, needle: readonly number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}
