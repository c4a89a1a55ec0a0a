import { defineConfig } from 'vitest/config'

// The build lands in the Go package that embeds it; /ui/ is where the
// node serves it.
export default defineConfig({
  base: '/ui/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: '../noderuntime/console/dist',
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  test: { include: ['src/**/*.test.ts'] },
})
