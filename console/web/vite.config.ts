import { defineConfig } from 'vite';

// The console is built into ../dist, which the Go package console embeds
// (//go:embed all:dist). The output is committed; CI rebuilds it and fails
// when it differs, so the build must be deterministic for the same sources.
export default defineConfig({
  base: '/',
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1000,
  },
  server: {
    proxy: { '/graphql': process.env.ENTITLED_URL ?? 'http://127.0.0.1:8080' },
  },
});
