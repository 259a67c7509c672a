/** The flood's worker (bench/flood.mjs) as a TypeScript app writes it, for the flood of a TypeScript app loaded as `flowd run` loads it. */
import { defineWorker } from 'flowd';

export const yielding = defineWorker({ start: (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve)) });
