import { defineConfig } from 'vitest/config';

// The UI is embedded in the sightline binary: hashed file names let the server cache them
// forever, and the dev server proxies the API to a running `sightline serve`.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/api': process.env.SIGHTLINE_URL ?? 'http://127.0.0.1:8501',
      '/readyz': process.env.SIGHTLINE_URL ?? 'http://127.0.0.1:8501',
      '/healthz': process.env.SIGHTLINE_URL ?? 'http://127.0.0.1:8501',
    },
  },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.ts'],
  },
});
