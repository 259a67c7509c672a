#!/usr/bin/env node
// The flowd command. tsx's loader lets apps name .ts worker modules directly.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
const code = await main(process.argv.slice(2));
process.exit(code);
