#!/usr/bin/env node
// The flowd command: runs flowd's compiled JavaScript (dist/, built by `npm run build`, shipped
// in the package). An app's TypeScript modules are compiled ahead by esbuild when one is met
// (actors/import-module.ts); tsx loads those the compiler cannot take.
import { setFlagsFromString } from 'node:v8';

// Under a steady flow of events V8 decides to allocate some of xstate's per-transition objects
// (and some of flowd's) straight in the old generation, where they die by the thousand: with that
// off, the runtime spends 8% to 15% less CPU per event in the benchmarks (docs/performance.md).
// Set before anything loads; `node --allocation-site-pretenuring bin/flowd.js ...` keeps V8's
// default (NODE_OPTIONS does not take this flag).
if (!process.execArgv.some((arg) => /^--(no-?)?allocation[-_]site[-_]pretenuring$/.test(arg))) {
  setFlagsFromString('--no-allocation-site-pretenuring');
}

const cli = new URL('../dist/src/cli/cli.js', import.meta.url);
let main;
try {
  ({ main } = await import(cli.href));
} catch (error) {
  const message = String(error?.message ?? error);
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && message.includes(cli.pathname)) {
    process.stderr.write(
      `flowd: this copy of flowd is not built (${cli.pathname} is missing); run \`npm run build\` in ${new URL('..', import.meta.url).pathname}\n`,
    );
  } else if (error?.code === 'ERR_MODULE_NOT_FOUND' && /Cannot find package 'xstate'/.test(message)) {
    // npm 7 and later install peer dependencies; --legacy-peer-deps, yarn 1 and others do not.
    process.stderr.write('flowd: flowd needs xstate, its peer dependency, and it is not installed: run `npm install xstate`\n');
  } else {
    process.stderr.write(`flowd: flowd could not be loaded: ${message.split('\n')[0]}\n`);
  }
  process.exit(1);
}
process.exit(await main(process.argv.slice(2)));
