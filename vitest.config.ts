import { defineConfig } from 'vitest/config';

// Two kinds of test, told apart by path:
// - integration: test/integration/** and any *.integration.test.ts, next to the unit tests of the same file. They need
//   RabbitMQ, Redis, PostgreSQL, FTP or chromium, spawn a process (bin/flowd.js, a tool, a writer that crashes) or
//   load dist/; their global setup starts the services and builds dist/. *.exclusive.test.ts disturb a shared service
//   (restarting the broker) and run alone, after the rest.
// - unit: every other *.test.ts. No service, no spawned process, no dist/ (a test may start its own server on loopback):
//   `npm run test:unit` passes, well under 30 s, with no service reachable.
const INTEGRATION = ['test/integration/**/*.test.ts', 'test/**/*.integration.test.ts'];
const EXCLUSIVE = ['test/**/*.exclusive.test.ts'];
const GLOBAL_SETUP = ['test/helpers/global-setup.ts'];
// The unit files share one module graph per worker (isolate: false), which halves their time; a file that replaces
// a module with vi.mock needs a graph of its own: list it here, and it runs in the project unit-isolated.
const MOCKS_A_MODULE = ['test/actors/plugins/host.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // CLI tests spawn real processes; two cores are shared with them.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...INTEGRATION, ...EXCLUSIVE, ...MOCKS_A_MODULE],
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'unit-isolated', include: MOCKS_A_MODULE, sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: { name: 'integration', include: INTEGRATION, exclude: EXCLUSIVE, globalSetup: GLOBAL_SETUP, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'exclusive', include: EXCLUSIVE, globalSetup: GLOBAL_SETUP, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
