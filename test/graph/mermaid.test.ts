import { describe, expect, it } from 'vitest';
import { allStates, appMachines, describeMachine, mermaidIds, mermaidText, toMermaid } from '../../src/graph/index.js';
import { testMachine } from './test-machine.js';

const graph = describeMachine(testMachine);
const text = toMermaid(graph);
const lines = text.split('\n').map((line) => line.trim());

describe('toMermaid', () => {
  it('writes a stateDiagram-v2 with compound states as nested blocks', () => {
    expect(text.startsWith('stateDiagram-v2\n')).toBe(true);
    const start = lines.indexOf('state working {');
    const end = lines.indexOf('}', start);
    expect(start).toBeGreaterThan(0);
    expect(lines.slice(start, end)).toEqual(
      expect.arrayContaining(['state "fetching" as working_fetching', '[*] --> working_fetching', 'working_done --> [*]']),
    );
  });

  it('marks initial states with [*] --> and final states with --> [*]', () => {
    expect(lines).toContain('[*] --> idle');
    expect(lines).toContain('failed --> [*]');
    expect(lines).toContain('closed --> [*]');
  });

  it('separates the regions of a parallel state with --', () => {
    const start = lines.indexOf('state both {');
    expect(lines.slice(start)).toEqual(expect.arrayContaining(['--']));
    expect(lines.indexOf('--', start)).toBeGreaterThan(lines.indexOf('state both_left {'));
    expect(lines.indexOf('--', start)).toBeLessThan(lines.indexOf('state both_right {'));
  });

  it('labels transitions with event [guard], after <delay> and always [guard]', () => {
    expect(lines).toContain('idle --> working : job.start');
    expect(lines).toContain('working_fetching --> working_waiting : error#58; fetchThing [hasRetries]');
    expect(lines).toContain('working_waiting --> failed : after 5s');
    expect(lines).toContain('working_waiting --> working_fetching : after backoff');
    expect(lines).toContain('finished --> idle : always [not(isReady)]');
  });

  it('draws a transition that leaves a compound state in the scope that holds both ends', () => {
    const block = lines.slice(lines.indexOf('state working {'), lines.indexOf('}', lines.indexOf('state working {')));
    expect(block).not.toContain('working_fetching --> failed : error#58; fetchThing');
    expect(lines).toContain('working_fetching --> failed : error#58; fetchThing');
  });

  it("shows targetless transitions as self-loops, and the root's in a note", () => {
    expect(lines).toContain('idle --> idle : ping');
    const note = lines.indexOf('note left of idle');
    expect(lines.slice(note, note + 4)).toEqual(['note left of idle', 'in every state#58;', 'log.written', 'end note']);
  });

  it('turns characters with a meaning in Mermaid into entity codes', () => {
    expect(mermaidText('odd "event": {x}; <b> #1 %%\nnext')).toBe('odd #34;event#34;#58; #123;x#125;#59; #60;b#62; #35;1 #37;#37; next');
    const odd = lines.find((line) => line.startsWith('idle --> closed : '))!;
    // Once the entity codes are taken out, nothing the grammar reads is left.
    expect(odd.slice('idle --> closed : '.length).replace(/#\d+;/g, '')).not.toMatch(/[":;{}<>%#]/);
  });

  it('gives two states with the same key in different parents different ids', () => {
    const ids = mermaidIds(graph);
    expect(ids.get('both.left.a')).toBe('both_left_a');
    expect(ids.get('both.right.a')).toBe('both_right_a');
    expect(new Set(ids.values()).size).toBe(ids.size);
  });

  it("declares every state of flowd's machines, labelled with its key", () => {
    for (const { name, machine } of appMachines()) {
      const machineGraph = describeMachine(machine);
      const ids = mermaidIds(machineGraph);
      const mermaid = toMermaid(machineGraph);
      for (const state of allStates(machineGraph).slice(1)) {
        expect(mermaid, `${name}: ${state.path}`).toContain(`state "${state.key}" as ${ids.get(state.path)}\n`);
      }
    }
  });
});
