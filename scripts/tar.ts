/**
 * @module A deterministic tar writer (POSIX ustar): the same entries give the same bytes, whoever
 * builds and whenever, because every entry carries the given mtime, owner 0:0 and no user names.
 * Enough for image layers and OCI archives: files, directories and symlinks with short paths.
 */

export type TarEntry =
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly data: Uint8Array }
  | { readonly kind: 'directory'; readonly path: string; readonly mode: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }

const BLOCK = 512
const encoder = new TextEncoder()

/** The archive of `entries` in the order given, each stamped with `mtimeSeconds`. */
export function tarOf(entries: readonly TarEntry[], mtimeSeconds: number): Uint8Array {
  const parts: Uint8Array[] = []
  for (const entry of entries) {
    const data = entry.kind === 'file' ? entry.data : new Uint8Array(0)
    parts.push(header(entry, data.byteLength, mtimeSeconds))
    if (data.byteLength > 0) {
      parts.push(data)
      const padding = (BLOCK - (data.byteLength % BLOCK)) % BLOCK
      if (padding) parts.push(new Uint8Array(padding))
    }
  }
  parts.push(new Uint8Array(BLOCK * 2))
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0)
  const out = new Uint8Array(total)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.byteLength
  }
  return out
}

function header(entry: TarEntry, size: number, mtimeSeconds: number): Uint8Array {
  const block = new Uint8Array(BLOCK)
  const path = entry.kind === 'directory' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path
  const { name, prefix } = splitPath(path)
  const put = (offset: number, length: number, text: string) => {
    const bytes = encoder.encode(text)
    if (bytes.byteLength > length) throw new Error(`tar: ${JSON.stringify(text)} does not fit in ${length} bytes`)
    block.set(bytes, offset)
  }
  const octal = (offset: number, length: number, value: number) => put(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`)
  put(0, 100, name)
  octal(100, 8, entry.kind === 'symlink' ? 0o777 : entry.mode)
  octal(108, 8, 0)
  octal(116, 8, 0)
  octal(124, 12, size)
  octal(136, 12, mtimeSeconds)
  block.fill(0x20, 148, 156) // the checksum counts itself as spaces
  put(156, 1, entry.kind === 'file' ? '0' : entry.kind === 'directory' ? '5' : '2')
  if (entry.kind === 'symlink') put(157, 100, entry.target)
  put(257, 6, 'ustar\0')
  put(263, 2, '00')
  octal(329, 8, 0)
  octal(337, 8, 0)
  put(345, 155, prefix)
  const checksum = block.reduce((sum, byte) => sum + byte, 0)
  put(148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `)
  return block
}

/** ustar keeps paths over 100 bytes as a prefix (up to 155) and a name, split at a slash. */
function splitPath(path: string): { name: string; prefix: string } {
  if (encoder.encode(path).byteLength <= 100) return { name: path, prefix: '' }
  const cut = path.lastIndexOf('/', path.length - 2)
  if (cut <= 0 || cut > 155 || path.length - cut - 1 > 100) throw new Error(`tar: path too long: ${path}`)
  return { name: path.slice(cut + 1), prefix: path.slice(0, cut) }
}
