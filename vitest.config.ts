import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          // bench/test: the benchmark harness's own helpers (statistics), not benchmarks.
          include: ['packages/*/test/**/*.test.ts', 'bench/test/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          // Real Docker containers and real processes: slow, and they share one engine.
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          pool: 'forks',
          globalSetup: ['test/e2e/global-setup.ts'],
        },
      },
    ],
  },
});
