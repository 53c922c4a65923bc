/**
 * @module A minimal HTTP/1.1 client over raw TCP for load generation. A load generator slower than
 * the server measures itself, so this one does as little as it can per request: a request whose
 * bytes never change is encoded once (`encodeRequest`), a response is parsed only for its status
 * line and Content-Length, and other headers are read only when asked for.
 */

import type { Socket } from 'bun'

export interface HttpResponse {
  readonly status: number
  readonly body: Uint8Array
  /** A header's value (the name in lower case), or undefined; parsed on first use. */
  header(name: string): string | undefined
}

export interface HttpRequest {
  readonly method: string
  /** Path and query, e.g. `/abc`. */
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: Uint8Array
}

/** A request encoded once, to be sent many times (closed-loop runs send the same bytes). */
export interface EncodedRequest {
  readonly bytes: Uint8Array
  /** HEAD responses have no body whatever their headers say. */
  readonly bodiless: boolean
}

const encoder = new TextEncoder()
const HEAD_END = Buffer.from('\r\n\r\n')
const CRLF = Buffer.from('\r\n')

/** The request's bytes on the wire to `host:port`. */
export function encodeRequest(host: string, port: number, request: HttpRequest): EncodedRequest {
  let head = `${request.method} ${request.path} HTTP/1.1\r\nhost: ${host}:${port}\r\n`
  for (const [name, value] of Object.entries(request.headers ?? {})) head += `${name}: ${value}\r\n`
  if (request.body !== undefined) head += `content-length: ${request.body.byteLength}\r\n`
  head += '\r\n'
  const headBytes = encoder.encode(head)
  const body = request.body ?? new Uint8Array(0)
  const bytes = new Uint8Array(headBytes.byteLength + body.byteLength)
  bytes.set(headBytes)
  bytes.set(body, headBytes.byteLength)
  return { bytes, bodiless: request.method === 'HEAD' }
}

interface Pending {
  resolve(response: HttpResponse): void
  reject(error: Error): void
  readonly bodiless: boolean
}

class ParsedResponse implements HttpResponse {
  readonly status: number
  readonly body: Uint8Array
  readonly #head: Buffer

  constructor(status: number, head: Buffer, body: Uint8Array) {
    this.status = status
    this.#head = head
    this.body = body
  }

  header(name: string): string | undefined {
    return headerValue(this.#head, this.#head.byteLength, name)
  }
}

/** One keep-alive connection carrying one request at a time. */
export class HttpConnection {
  #socket: Socket<undefined> | null = null
  #buffer: Buffer = Buffer.alloc(0)
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

  request(request: HttpRequest | EncodedRequest): Promise<HttpResponse> {
    if (this.#closed || !this.#socket) return Promise.reject(new Error('connection closed'))
    if (this.#pending) return Promise.reject(new Error('connection busy'))
    const encoded = 'bytes' in request ? request : encodeRequest(this.host, this.port, request)
    const promise = new Promise<HttpResponse>((resolve, reject) => {
      this.#pending = { resolve, reject, bodiless: encoded.bodiless }
    })
    const written = this.#socket.write(encoded.bytes)
    // Requests are small; a short write only happens under extreme pressure. Send the rest in order.
    if (written < encoded.bytes.byteLength) this.#socket.write(encoded.bytes.subarray(written))
    return promise
  }

  close(): void {
    this.#closed = true
    this.#socket?.end()
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.byteLength === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
    this.#tryParse()
  }

  #tryParse(): void {
    const pending = this.#pending
    if (!pending) return
    const buffer = this.#buffer
    const headEnd = buffer.indexOf(HEAD_END)
    if (headEnd < 0) return
    const status = (buffer[9]! - 48) * 100 + (buffer[10]! - 48) * 10 + (buffer[11]! - 48)
    const bodiless = pending.bodiless || status === 204 || status === 304 || status < 200
    const length = bodiless ? 0 : Number(headerValue(buffer, headEnd, 'content-length') ?? 0)
    const bodyStart = headEnd + 4
    if (buffer.byteLength < bodyStart + length) return
    // Copies: the socket may reuse the chunk's memory for the next read.
    const head = Buffer.from(buffer.subarray(0, headEnd))
    const body = length === 0 ? EMPTY : new Uint8Array(buffer.subarray(bodyStart, bodyStart + length))
    this.#buffer = buffer.byteLength === bodyStart + length ? Buffer.alloc(0) : Buffer.from(buffer.subarray(bodyStart + length))
    this.#pending = null
    const response = new ParsedResponse(status, head, body)
    if (response.header('connection')?.toLowerCase() === 'close') this.close()
    pending.resolve(response)
  }

  #onClose(error: Error): void {
    this.#closed = true
    const pending = this.#pending
    this.#pending = null
    pending?.reject(error)
  }
}

const EMPTY = new Uint8Array(0)

/**
 * The value of header `name` (lower case) in the head `buffer[0, headEnd)`, compared without regard
 * to case, or undefined. Scans the bytes in place: no string per header, no map per response.
 */
function headerValue(buffer: Buffer, headEnd: number, name: string): string | undefined {
  for (let line = buffer.indexOf(CRLF); line >= 0 && line < headEnd; line = buffer.indexOf(CRLF, line + 2)) {
    let i = line + 2
    let j = 0
    while (j < name.length && (buffer[i]! | 0x20) === name.charCodeAt(j)) {
      i++
      j++
    }
    if (j < name.length || buffer[i] !== 0x3a) continue
    i++
    while (buffer[i] === 0x20 || buffer[i] === 0x09) i++
    let end = buffer.indexOf(CRLF, i)
    if (end < 0 || end > headEnd) end = headEnd
    return buffer.toString('latin1', i, end).trimEnd()
  }
  return undefined
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

  async send(request: HttpRequest | EncodedRequest): Promise<HttpResponse> {
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
