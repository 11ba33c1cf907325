import { defineConfig } from 'vitest/config';

// Model loading and real inference make single tests slow on a 2-core machine; timeouts are generous,
// speed is measured in `npm run bench`, not here.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
