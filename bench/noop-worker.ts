/** The no-op worker of bench/dispatch.ts, as a module a worker thread can load (`isolation = thread`). */
export const noop = { start: async (): Promise<void> => {} };
