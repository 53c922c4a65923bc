/**
 * @module What every package's vitest config shares: workspace packages resolve to their TypeScript
 * source through the `bun` export condition (as Bun itself does), not to a built `dist/`.
 */

import { defaultClientConditions, defaultServerConditions } from 'vite'

export const workspaceSource = {
  resolve: { conditions: ['bun', ...defaultClientConditions] },
  ssr: { resolve: { conditions: ['bun', ...defaultServerConditions] } },
}
