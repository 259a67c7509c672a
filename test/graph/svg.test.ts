import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { allStates, appMachines, appSvg, describeMachine, machineSvg, renderSvg, toDot } from '../../src/graph/index.js';
import { testMachine, testPaths } from './test-machine.js';

/** The ids of every `<g>` element in an SVG document. */
function groupIds(svg: string): Set<string> {
  const ids = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'g')
        for (const g of [value].flat())
          if (g && typeof g === 'object' && typeof (g as Record<string, unknown>)['@_id'] === 'string')
            ids.add((g as Record<string, string>)['@_id']!);
      walk(value);
    }
  };
  walk(new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', htmlEntities: true }).parse(svg));
  return ids;
}

describe('renderSvg', () => {
  it('renders a machine to an SVG that parses, every state a <g> with id state:<path>', async () => {
    const svg = await renderSvg(toDot(describeMachine(testMachine)));
    expect(XMLValidator.validate(svg)).toBe(true);
    const ids = groupIds(svg);
    for (const path of testPaths) expect(ids.has(`state:${path}`), path).toBe(true);
  });

  it('escapes event names full of markup', async () => {
    const svg = await renderSvg(toDot(describeMachine(testMachine)));
    expect(svg).toContain('odd &quot;event&quot;: {x}; &lt;b&gt; &amp; #1 %%');
  });

  it('rejects DOT that Graphviz cannot read, with its message', async () => {
    await expect(renderSvg('digraph { a -> }')).rejects.toThrow(/Graphviz could not render the diagram: .*syntax error/);
  });
});

describe('machineSvg', () => {
  it("draws each of flowd's machines as a valid SVG with every state, and no script", async () => {
    for (const { name, machine } of appMachines()) {
      const svg = await machineSvg(name);
      expect(XMLValidator.validate(svg), name).toBe(true);
      expect(svg).not.toMatch(/<script|javascript:|\son[a-z]+=/i);
      const ids = groupIds(svg);
      for (const state of allStates(describeMachine(machine))) expect(ids.has(`state:${state.path}`), `${name}: ${state.path}`).toBe(true);
    }
  });

  it('renders each machine once and hands out the same SVG after', async () => {
    const first = machineSvg('lock');
    expect(machineSvg('lock')).toBe(first);
    expect(await first).toContain('<svg');
  });

  it("rejects a name that is not one of the app's machines, listing them", async () => {
    await expect(machineSvg('nope')).rejects.toThrow(
      'no machine named "nope"; expected one of supervisor, worker-slot, source, store, lock',
    );
  });
});

describe('appSvg', () => {
  it('is one SVG document with every state of every machine', async () => {
    const svg = await appSvg();
    expect(XMLValidator.validate(svg)).toBe(true);
    // One root <svg> holding one nested <svg> per machine, each laid out on its own.
    expect(svg.replace(/^<\?xml[^>]*>\s*/, '')).toMatch(/^<svg [^>]*width="[0-9.]+pt" height="[0-9.]+pt">/);
    expect(svg.match(/<svg\b/g)).toHaveLength(appMachines().length + 1);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const ids = groupIds(svg);
    for (const { machine } of appMachines()) {
      const graph = describeMachine(machine);
      for (const state of allStates(graph)) expect(ids.has(`${graph.id}/state:${state.path}`)).toBe(true);
    }
  });
});
