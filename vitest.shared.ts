/**
 * @module What every package's vitest config shares: workspace packages resolve to their TypeScript
 * source through the `bun` export condition (as Bun itself does), not to a built `dist/`; and the
 * files the server imports `with { type: 'file' }` (so that its single executable embeds them)
 * resolve to their path, which is what Bun gives such an import and vite does not know to.
 */

import { resolve } from 'node:path'
import { type Plugin, defaultClientConditions, defaultServerConditions } from 'vite'

const EMBEDDED_DIR = resolve(import.meta.dirname, 'apps/server/src/demo')
const EMBEDDED = '\0embedded-file:'

const bunFileImports: Plugin = {
  name: 'bun-file-imports',
  enforce: 'pre',
  resolveId(source, importer) {
    if (!importer || !source.startsWith('./demo/')) return null
    const path = resolve(importer, '..', source)
    return path.startsWith(EMBEDDED_DIR) ? `${EMBEDDED}${path}` : null
  },
  load(id) {
    return id.startsWith(EMBEDDED) ? `export default ${JSON.stringify(id.slice(EMBEDDED.length))}` : null
  },
}

export const workspaceSource = {
  plugins: [bunFileImports],
  resolve: { conditions: ['bun', ...defaultClientConditions] },
  ssr: { resolve: { conditions: ['bun', ...defaultServerConditions] } },
}
