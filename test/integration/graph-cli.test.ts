import { XMLValidator } from 'fast-xml-parser';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allStates, appMachines, describeMachine, mermaidIds } from '../../src/graph/index.js';
import { flowd, tempDir } from '../helpers/cli.js';

const EXAMPLES = ['hello/hello.ini', 'inbox/inbox.ini', 'lines/lines.ini', 'queue/queue.ini', 'web/web.ini'];

async function finished(run: ReturnType<typeof flowd>): Promise<number | null> {
  return (await run.exit).code;
}

describe('flowd graph', () => {
  it.each(EXAMPLES)('prints Markdown naming every state of every machine for examples/%s', async (example) => {
    const run = flowd(['graph', `examples/${example}`]);
    expect(await finished(run), run.stderr()).toBe(0);
    const text = run.stdout();
    expect(text).toMatch(/^# \S+: flowd machines\n/);
    for (const { name, machine } of appMachines()) {
      expect(text).toContain(`## ${name}\n\n\`\`\`mermaid\nstateDiagram-v2\n`);
      const graph = describeMachine(machine);
      const ids = mermaidIds(graph);
      for (const state of allStates(graph).slice(1))
        expect(text, `${name}: ${state.path}`).toContain(`state "${state.key}" as ${ids.get(state.path)}`);
    }
    expect(text.match(/^```mermaid$/gm)).toHaveLength(appMachines().length);
  });

  it('prints one digraph with a cluster per machine for --format dot', async () => {
    const run = flowd(['graph', 'examples/hello/hello.ini', '--format', 'dot']);
    expect(await finished(run), run.stderr()).toBe(0);
    expect(run.stdout()).toMatch(/^digraph "flowd" \{/);
    for (const { name } of appMachines()) expect(run.stdout()).toContain(`id="${name}/state:"`);
  });

  it('prints one SVG that parses, with every machine and no script, for --format svg', async () => {
    const run = flowd(['graph', 'examples/lines/lines.ini', '--format', 'svg']);
    expect(await finished(run), run.stderr()).toBe(0);
    const svg = run.stdout();
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg.match(/<svg\b/g)).toHaveLength(appMachines().length + 1);
    expect(svg).not.toMatch(/<script/i);
    for (const { name } of appMachines()) expect(svg).toContain(`id="${name.replace(/-/g, '&#45;')}/state:"`);
  });

  it('writes the diagram to --out, atomically, and prints its path', async () => {
    const temp = await tempDir();
    try {
      const out = path.join(temp.dir, 'machines.svg');
      const run = flowd(['graph', 'examples/hello/hello.ini', '--format', 'svg', '--out', out]);
      expect(await finished(run), run.stderr()).toBe(0);
      expect(run.stdout().trim()).toBe(out);
      expect(XMLValidator.validate(await readFile(out, 'utf8'))).toBe(true);
      expect(await readdir(temp.dir)).toEqual(['machines.svg']);
    } finally {
      await temp.cleanup();
    }
  });

  it('exits 2 with a usage error for an unknown format', async () => {
    const run = flowd(['graph', 'examples/hello/hello.ini', '--format', 'png']);
    expect(await finished(run)).toBe(2);
    expect(run.stderr()).toContain('flowd: --format: found "png"; expected mermaid, dot, svg');
    expect(run.stderr()).toContain('flowd graph <app.ini> [--format mermaid|dot|svg] [--out file]');
    expect(run.stdout()).toBe('');
  });

  it('exits 2 for a bad INI file, as check does', async () => {
    const temp = await tempDir();
    try {
      const ini = await temp.write('bad.ini', '[Flow]\nworkers = many\n');
      const run = flowd(['graph', ini]);
      expect(await finished(run)).toBe(2);
      expect(run.stderr()).toMatch(/workers/);
      expect(run.stdout()).toBe('');
    } finally {
      await temp.cleanup();
    }
  });

  it('refuses --format on other commands', async () => {
    const run = flowd(['check', 'examples/hello/hello.ini', '--format', 'dot']);
    expect(await finished(run)).toBe(2);
    expect(run.stderr()).toContain('--format and --out are options of graph, not of check');
  });
});
