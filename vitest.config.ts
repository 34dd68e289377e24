import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end suites start real servers on loopback; two workers fit a 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
  },
});
