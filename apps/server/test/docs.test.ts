/**
 * Code comments and the README cite docs/protocol.md by section anchor; a renamed or removed section
 * would leave them pointing nowhere. Every anchor cited anywhere in the tree must be a heading there.
 */

import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = new URL('../../../', import.meta.url).pathname
const SKIPPED = new Set(['node_modules', 'dist', '.git', '.turbo'])

function filesUnder(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    if (SKIPPED.has(name)) return []
    const path = join(directory, name)
    if (statSync(path).isDirectory()) return filesUnder(path)
    return /\.(ts|md)$/.test(name) ? [path] : []
  })
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-')
}

describe('docs/protocol.md', () => {
  it('should have a section for every anchor the code and the README cite', () => {
    const document = readFileSync(join(ROOT, 'docs/protocol.md'), 'utf8')
    const anchors = new Set([...document.matchAll(/^#{2,6} (.+)$/gm)].map((match) => anchorOf(match[1]!)))
    const files = [join(ROOT, 'README.md'), ...filesUnder(join(ROOT, 'apps')), ...filesUnder(join(ROOT, 'packages'))]
    const cited = new Map<string, string>()
    for (const file of files) {
      for (const match of readFileSync(file, 'utf8').matchAll(/docs\/protocol\.md#([a-z0-9-]+)/g)) cited.set(match[1]!, file)
    }
    expect(cited.size).toBeGreaterThan(5)
    for (const [anchor, file] of cited) expect(anchors.has(anchor), `#${anchor}, cited in ${file}`).toBe(true)
  })
})
