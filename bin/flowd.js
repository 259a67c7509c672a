#!/usr/bin/env node
// The flowd command.
import { register } from 'node:module';
import { setFlagsFromString } from 'node:v8';

// Under a steady flow of events V8 decides to allocate some of xstate's per-transition objects
// (and some of flowd's) straight in the old generation, where they die by the thousand: with that
// off, the runtime spends 8% to 15% less CPU per event in the benchmarks (README, Performance).
// Set before anything loads; `node --allocation-site-pretenuring bin/flowd.js ...` keeps V8's
// default (NODE_OPTIONS does not take this flag).
if (!process.execArgv.some((arg) => /^--(no-?)?allocation[-_]site[-_]pretenuring$/.test(arg))) {
  setFlagsFromString('--no-allocation-site-pretenuring');
}

// tsx's loader (its ESM and CommonJS hooks, as `node --import tsx` registers them) lets apps
// name .ts worker modules directly, in any folder.
await import('tsx');
// After tsx, so that this hook runs first: 'flowd' in an app's modules is the flowd this command runs.
register('./self-hook.js', import.meta.url);

const { main } = await import('../src/cli.ts');
const code = await main(process.argv.slice(2));
process.exit(code);
