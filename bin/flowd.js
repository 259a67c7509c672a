#!/usr/bin/env node
// The flowd command. tsx's loader (its ESM and CommonJS hooks, as `node --import tsx`
// registers them) lets apps name .ts worker modules directly, in any folder.
import 'tsx';

const { main } = await import('../src/cli.ts');
const code = await main(process.argv.slice(2));
process.exit(code);
