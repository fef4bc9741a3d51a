import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          exclude: ['test/unit/frontend/**', '**/node_modules/**'],
          testTimeout: 30_000,
        },
      },
      { test: { name: 'frontend', include: ['test/unit/frontend/**/*.test.ts'], environment: 'node', testTimeout: 30_000 } },
      { test: { name: 'infra', include: ['test/infra/**/*.test.ts'], testTimeout: 240_000, hookTimeout: 240_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: ['test/integration/measured-cost.test.ts', '**/node_modules/**'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // Billable units per reading depend on batch sizes, which the machine's load shifts: measured after
          // every other project, alone (groupOrder), so other files' load never skews them.
          name: 'measured',
          include: ['test/integration/measured-cost.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
