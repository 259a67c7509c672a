import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { codeBlocks, docApps } from './markdown.js';

// docs/workflows.md walks through examples/tutorial: its code is the example's, so that the page and
// the example (each run by its own test) cannot drift apart.

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const app = docApps(codeBlocks('docs/workflows.md', read('docs/workflows.md'))).find((a) => a.heading === 'The tutorial, end to end');

describe('the tutorial of docs/workflows.md', () => {
  it('shows examples/tutorial/workflows.ts as it is', () => {
    expect(app, 'docs/workflows.md has the app "The tutorial, end to end"').toBeDefined();
    expect(app!.files.get('workflows.ts')?.text).toBe(read('examples/tutorial/workflows.ts'));
  });

  it('shows examples/tutorial/tutorial.ini as app.ini, less its header, with a table and a queue of its own', () => {
    const ini = read('examples/tutorial/tutorial.ini');
    const expected = ini
      .slice(ini.indexOf('[Workflow]'))
      .replace('/queue/flowd-example.tutorial\n', '/queue/tutorial\n')
      .replace('table = flowd_example_tutorial\n', 'table = tutorial_runs\n');
    expect(expected).not.toBe(ini.slice(ini.indexOf('[Workflow]')));
    expect(app!.files.get('app.ini')?.text).toBe(expected);
  });
});
