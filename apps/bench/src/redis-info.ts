/**
 * @module Reading `INFO memory` from a Redis, over one plain RESP exchange: the bench measures
 * Redis's memory per rendezvous without a client library of its own.
 */

/** `used_memory` in bytes of the Redis at `url` (`redis://host:port`). */
export async function redisUsedMemory(url: string): Promise<number> {
  const { hostname, port } = new URL(url)
  const text = await new Promise<string>((resolve, reject) => {
    let received = ''
    Bun.connect({
      hostname,
      port: Number(port || 6379),
      socket: {
        open: (socket) => void socket.write('INFO memory\r\n'),
        data: (socket, chunk) => {
          received += chunk.toString()
          // A bulk reply: `$<length>\r\n<text>\r\n`.
          const header = /^\$(\d+)\r\n/.exec(received)
          if (header && received.length >= header[0].length + Number(header[1])) {
            socket.end()
            resolve(received)
          }
        },
        error: (_socket, error) => reject(error),
      },
    }).catch(reject)
  })
  const used = /used_memory:(\d+)/.exec(text)?.[1]
  if (used === undefined) throw new Error('INFO memory did not report used_memory')
  return Number(used)
}
