import { defineConfig } from 'vite';

// Built into web/dist, which the server serves at / (src/server/web-app.ts) on the API's own origin.
export default defineConfig({
  root: import.meta.dirname,
  build: { outDir: 'dist', emptyOutDir: true },
});
