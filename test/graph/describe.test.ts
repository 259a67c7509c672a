import { describe, expect, it } from 'vitest';
import { allStates, describeMachine, transitionLabel } from '../../src/graph/index.js';
import { testMachine, testPaths } from './test-machine.js';

const graph = describeMachine(testMachine);
const from = (source: string) => graph.transitions.filter((t) => t.source === source);

describe('describeMachine', () => {
  it('lists every state by dotted path, the root first, with its type', () => {
    expect(allStates(graph).map((s) => s.path)).toEqual(testPaths);
    const types = Object.fromEntries(allStates(graph).map((s) => [s.path, s.type]));
    expect(types).toMatchObject({
      '': 'compound',
      idle: 'atomic',
      working: 'compound',
      both: 'parallel',
      'both.left': 'compound',
      closed: 'final',
      'working.done': 'final',
    });
  });

  it('names the root after the machine and keeps descriptions and initial states', () => {
    expect(graph.id).toBe('test');
    expect(graph.root.key).toBe('test');
    expect(graph.root.initial).toBe('idle');
    const working = graph.root.children.find((s) => s.key === 'working')!;
    expect(working.initial).toBe('working.fetching');
    expect(graph.root.children.find((s) => s.key === 'idle')!.description).toBe('Waiting for a job.');
    expect(graph.root.children.find((s) => s.key === 'both')!.initial).toBeUndefined();
  });

  it("names an invoked actor's onDone and onError after the actor, guards included", () => {
    expect(from('working.fetching')).toEqual([
      { source: 'working.fetching', targets: ['working.done'], event: 'done: fetchThing' },
      { source: 'working.fetching', targets: ['working.waiting'], event: 'error: fetchThing', guard: 'hasRetries' },
      { source: 'working.fetching', targets: ['failed'], event: 'error: fetchThing' },
    ]);
  });

  it('gives delays by name, or as a duration when they are numbers', () => {
    const delays = from('working.waiting').map((t) => [t.event, t.delay, t.targets]);
    expect(delays).toEqual(
      expect.arrayContaining([
        ['after', 'backoff', ['working.fetching']],
        ['after', '5s', ['failed']],
      ]),
    );
    expect(from('working.waiting').map(transitionLabel).sort()).toEqual(['after 5s', 'after backoff']);
  });

  it('reads always transitions in priority order, with composite guards spelled out', () => {
    expect(from('finished').map((t) => [t.event, t.guard, t.targets])).toEqual([
      ['always', 'isReady', ['both']],
      ['always', 'not(isReady)', ['idle']],
    ]);
    expect(from('finished').map(transitionLabel)).toEqual(['always [isReady]', 'always [not(isReady)]']);
  });

  it('calls a compound state\'s onDone "done" and keeps targetless transitions with their actions', () => {
    expect(from('working')).toEqual([{ source: 'working', targets: ['finished'], event: 'done' }]);
    expect(from('')).toEqual([{ source: '', targets: [], event: 'log.written', actions: ['record'] }]);
    expect(from('idle')).toContainEqual({ source: 'idle', targets: [], event: 'ping', actions: ['record'] });
  });
});
