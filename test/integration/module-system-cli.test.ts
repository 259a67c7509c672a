import { describe, expect, it } from 'vitest';
import { importFailure } from '../../actors/import-module.js';
import { flowd, tempDir } from '../helpers/cli.js';

// Node decides a .js file's module system by its package.json; vitest's loader does not, so this runs the real CLI.
const INI = '[Flow]\nclass = ./worker.js\n[Source]\ntype = interval\ninterval = 1s\n';

describe('a worker module written in the other module system than its package', () => {
  // npm init -y writes "type": "commonjs"; without it, Node 20.19 and later detect the import syntax and load the file.
  it('an import-syntax .js in a CommonJS package (npm init -y) is named with what to change, exit 2', async () => {
    const tmp = await tempDir();
    try {
      await tmp.write('package.json', JSON.stringify({ name: 'myapp', version: '1.0.0', type: 'commonjs' }));
      await tmp.write('worker.js', 'export default { start() {} };\n');
      const app = await tmp.write('app.ini', INI);
      const check = flowd(['check', app]);
      expect((await check.exit).code).toBe(2);
      expect(check.stderr()).toMatch(
        /app\.ini:2 \[Flow\] "class": .*importing \S+worker\.js failed: .*\(the file uses import\/export, but its package\.json has no "type": "module": name it \.mjs, or set "type": "module"\)/,
      );
    } finally {
      await tmp.cleanup();
    }
  });

  it('a require-syntax .js in a "type": "module" package says to name it .cjs, exit 2', async () => {
    const tmp = await tempDir();
    try {
      await tmp.write('package.json', JSON.stringify({ name: 'myapp', type: 'module' }));
      await tmp.write('worker.js', 'module.exports = { start() {} };\n');
      const app = await tmp.write('app.ini', INI);
      const check = flowd(['check', app]);
      expect((await check.exit).code).toBe(2);
      expect(check.stderr()).toMatch(/but its package\.json says "type": "module": name it \.cjs\)/);
    } finally {
      await tmp.cleanup();
    }
  });

  it('leaves any other failure as it is', () => {
    expect(importFailure(new Error('Cannot find module x'))).toBe('Cannot find module x');
    expect(importFailure('plain')).toBe('plain');
  });
});
