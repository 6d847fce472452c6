import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The dashboard imports only types from @gpufleet/protocol, plus its pure selector module by
// relative path (src/lib/selector.ts): the package's index pulls in node:crypto.

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1000 },
  server: {
    // `npm run dev -w @gpufleet/web` against a control plane on :7070 (GPUFLEET_API overrides).
    proxy: { '/api': { target: process.env.GPUFLEET_API ?? 'http://127.0.0.1:7070', changeOrigin: true } },
  },
});
