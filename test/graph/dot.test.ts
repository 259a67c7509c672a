import { describe, expect, it } from 'vitest';
import { allStates, appMachines, describeMachine, toAppDot, toDot } from '../../src/graph/index.js';
import { testMachine, testPaths } from './test-machine.js';

const graph = describeMachine(testMachine);
const dot = toDot(graph);
const lines = dot.split('\n').map((line) => line.trim());

describe('toDot', () => {
  it('writes one digraph, left to right unless asked otherwise', () => {
    expect(dot.startsWith('digraph "test" {\n')).toBe(true);
    expect(dot).toContain('rankdir=LR');
    expect(toDot(graph, { rankdir: 'TB' })).toContain('rankdir=TB');
  });

  it('gives every state, node or cluster, the id state:<path>', () => {
    for (const path of testPaths) expect(dot, path).toContain(`id="state:${path}"`);
  });

  it('draws compound and parallel states as clusters, the parallel one dashed', () => {
    expect(lines).toContain('subgraph "cluster_working" {');
    expect(lines).toContain('subgraph "cluster_both" {');
    const both = lines.indexOf('subgraph "cluster_both" {');
    expect(lines[both + 2]).toContain('style="rounded,filled,dashed"');
  });

  it('marks the initial state with a dot and final states with a double border', () => {
    expect(lines).toContain('"initial:working" -> "state:working.fetching" [arrowsize=0.6];');
    expect(lines.find((line) => line.startsWith('"state:closed" ['))).toContain('peripheries=2');
    expect(lines.find((line) => line.startsWith('"state:idle" ['))).not.toContain('peripheries');
  });

  it('labels edges with event [guard], after <delay>, always (dashed)', () => {
    expect(lines).toContain(
      '"state:working.fetching" -> "state:working.waiting" [label="error: fetchThing [hasRetries]" class="transition"];',
    );
    expect(lines).toContain('"state:working.waiting" -> "state:failed" [label="after 5s" class="transition"];');
    expect(lines).toContain('"state:finished" -> "state:idle" [style=dashed label="always [not(isReady)]" class="transition"];');
  });

  it('clips edges to and from compound states at their cluster', () => {
    expect(lines).toContain('"state:idle" -> "initial:working" [lhead="cluster_working" label="job.start" class="transition"];');
    expect(lines).toContain('"initial:working" -> "state:finished" [ltail="cluster_working" label="done" class="transition"];');
    expect(lines).toContain('"anchor:both" -> "state:closed" [ltail="cluster_both" label="both.stop" class="transition"];');
  });

  it("lists targetless transitions under their state's name", () => {
    const idle = lines.find((line) => line.startsWith('"state:idle" ['))!;
    expect(idle).toMatch(/<b>idle<\/b>.*<hr\/>.*ping/);
    expect(lines.find((line) => line.startsWith('id="state:";'))).toMatch(/in every state:.*log\.written/);
  });

  it('shows actions only when asked', () => {
    expect(dot).not.toContain('ping / record');
    expect(toDot(graph, { actions: true })).toContain('ping / record');
  });

  it('escapes quotes in DOT strings and markup in HTML labels', () => {
    expect(lines).toContain('"state:idle" -> "state:closed" [label="odd \\"event\\": {x}; <b> & #1 %%" class="transition"];');
    const odd = describeMachine(testMachine);
    odd.root.children[0]!.key = 'a<b>&"c"';
    expect(toDot(odd)).toContain('<b>a&lt;b&gt;&amp;&quot;c&quot;</b>');
  });

  it('draws transitions between the same two states as one edge, a line per event', () => {
    const supervisor = toDot(describeMachine(appMachines().find((m) => m.name === 'supervisor')!.machine));
    expect(supervisor).toContain(
      '"state:flowing" -> "initial:stopping" [lhead="cluster_stopping" label="source.failed\\nruntime.stop\\nwork.drained"',
    );
  });

  it('prefixes ids with the machine when several machines share one graph', () => {
    const graphs = appMachines().map(({ machine }) => describeMachine(machine));
    const app = toAppDot(graphs);
    for (const machineGraph of graphs) {
      for (const state of allStates(machineGraph)) expect(app).toContain(`id="${machineGraph.id}/state:${state.path}"`);
    }
  });
});
