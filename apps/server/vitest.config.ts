import { defineConfig } from 'vitest/config'
import { workspaceSource } from '../../vitest.shared.ts'

export default defineConfig({
  ...workspaceSource,
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // HTTP tests listen on real sockets; a generous timeout absorbs a loaded CI machine.
    testTimeout: 20_000,
  },
})
