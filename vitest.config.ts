import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // CLI tests spawn real processes; two cores are shared with them.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'main', include: ['test/**/*.test.ts'], exclude: ['test/**/*.exclusive.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        // Tests that disturb a shared service (restarting the broker) run alone, after the rest.
        extends: true,
        test: { name: 'exclusive', include: ['test/**/*.exclusive.test.ts'], fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
