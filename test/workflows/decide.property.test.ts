import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, type WorkflowOutcome } from '../../src/workflows/decide.js';
import { scheduledEvent, type HistoryEvent } from '../../src/workflows/history.js';
import { defineActivity, defineWorkflow, type Placeholder, type WorkflowDefinition } from '../../src/workflows/workflow-api.js';

/** One input of a call: an earlier call's placeholder, or (`sync`) its `.result()`, which makes the body wait there. */
interface Dep {
  from: number;
  sync: boolean;
}

/** One call of the body: which activity, and which earlier calls feed its input. */
interface Call {
  name: 'A' | 'B' | 'C';
  deps: Dep[];
}

const NAMES = ['A', 'B', 'C'] as const;
const activities = Object.fromEntries(
  NAMES.map((name) => [
    name,
    defineActivity({ name, version: 1 }, async (input: { i: number; deps: number[] }) => 1 + input.deps.reduce((a, b) => a + b, 0)),
  ]),
);

/** A random DAG: call i takes placeholders (or results) of some of the calls before it. */
const dagArb = (sync: boolean) =>
  fc.integer({ min: 1, max: 10 }).chain((n) =>
    fc.tuple(
      ...Array.from({ length: n }, (_, i) =>
        fc.record({
          name: fc.constantFrom(...NAMES),
          deps: fc
            .subarray(Array.from({ length: i }, (_, j) => j))
            .chain((froms) =>
              fc.tuple(...froms.map((from) => (sync ? fc.boolean() : fc.constant(false)).map((isSync): Dep => ({ from, sync: isSync })))),
            ),
        }),
      ),
    ),
  );

/** The body: makes every call in order, each input holding its deps, and returns all placeholders (so it waits for all). */
function dagWorkflow(calls: Call[]): WorkflowDefinition {
  return defineWorkflow({ name: 'Dag', version: 1 }, (wf) => {
    const proxies = { A: wf.activity(activities.A!), B: wf.activity(activities.B!), C: wf.activity(activities.C!) };
    return () => {
      const made: Placeholder<number>[] = [];
      for (const [i, call] of calls.entries()) {
        made.push(proxies[call.name]({ i, deps: call.deps.map((dep) => (dep.sync ? made[dep.from]!.result() : made[dep.from]!)) }));
      }
      return made;
    };
  });
}

/** The call ids decide() must give: `<name>#<n>`, n counting that activity's calls in call order. */
function callIds(calls: Call[]): string[] {
  const counts = new Map<string, number>();
  return calls.map((call) => {
    const n = (counts.get(call.name) ?? 0) + 1;
    counts.set(call.name, n);
    return `${call.name}#${n}`;
  });
}

/** A small seeded generator, so each run's completion order is random but reproducible from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Driven {
  outcome: WorkflowOutcome;
  scheduled: Set<number>;
  decisions: number;
}

/**
 * Runs the workflow as a run actor would: decide, record what it scheduled,
 * finish a random non-empty subset of the running calls in a random order
 * (call `failing` fails for good), and decide again, until an outcome.
 * Checks each decision on the way.
 */
function drive(calls: Call[], seed: number, failing?: number): Driven {
  const workflow = dagWorkflow(calls);
  const ids = callIds(calls);
  const next = random(seed);
  const events: HistoryEvent[] = [{ type: 'workflow.started', at: 0, input: null }];
  const values = new Map<number, number>();
  const scheduled = new Set<number>();
  const running: number[] = [];
  const expected = (i: number) => 1 + calls[i]!.deps.reduce((sum, dep) => sum + values.get(dep.from)!, 0);
  for (let decisions = 1; ; decisions++) {
    const decision = decide(workflow, events);
    for (const call of decision.schedule) {
      const i = ids.indexOf(call.callId);
      expect(i, `unknown call id ${call.callId}`).toBeGreaterThanOrEqual(0);
      expect(scheduled.has(i), `${call.callId} scheduled twice`).toBe(false);
      for (const dep of calls[i]!.deps)
        expect(values.has(dep.from), `${call.callId} scheduled before its input ${ids[dep.from]} finished`).toBe(true);
      expect(call.input).toEqual({ i, deps: calls[i]!.deps.map((dep) => values.get(dep.from)) });
      scheduled.add(i);
      running.push(i);
      events.push(scheduledEvent(call, decisions));
    }
    if (decision.outcome !== undefined) {
      expect(decision.schedule).toEqual([]);
      return { outcome: decision.outcome, scheduled, decisions };
    }
    // As soon as its inputs finished, a call is scheduled, unless the body waits (sync) at or before it for a result not in yet.
    const reached = (i: number) => calls.slice(0, i + 1).every((call) => call.deps.every((dep) => !dep.sync || values.has(dep.from)));
    for (let i = 0; i < calls.length; i++) {
      const ready = calls[i]!.deps.every((dep) => values.has(dep.from)) && reached(i);
      expect(scheduled.has(i), `${ids[i]} ${ready ? 'not scheduled though its inputs finished' : 'scheduled early'}`).toBe(ready);
    }
    expect(running.length, 'the workflow waits but nothing runs').toBeGreaterThan(0);
    const finishing = running.filter(() => next() < 0.5);
    if (finishing.length === 0) finishing.push(running[Math.floor(next() * running.length)]!);
    finishing.sort(() => next() - 0.5);
    for (const i of finishing) {
      running.splice(running.indexOf(i), 1);
      if (i === failing) {
        events.push({
          type: 'activity.failed',
          at: decisions,
          callId: ids[i]!,
          attempt: 1,
          error: { code: 'ERR_BOOM', message: 'broken' },
          final: true,
        });
        continue;
      }
      values.set(i, expected(i));
      events.push(
        { type: 'activity.started', at: decisions, callId: ids[i]!, attempt: 1 },
        { type: 'activity.completed', at: decisions, callId: ids[i]!, result: values.get(i)! },
      );
    }
  }
}

/** Calls that take `failing`'s result, directly or through others. */
function dependents(calls: Call[], failing: number): Set<number> {
  const tainted = new Set([failing]);
  calls.forEach((call, i) => {
    if (call.deps.some((dep) => tainted.has(dep.from))) tainted.add(i);
  });
  tainted.delete(failing);
  return tainted;
}

/** What the workflow returns: each call's value, 1 plus the sum of its inputs. */
function values(calls: Call[]): number[] {
  const out: number[] = [];
  calls.forEach((call) => out.push(1 + call.deps.reduce((sum, dep) => sum + out[dep.from]!, 0)));
  return out;
}

describe('decide(), for any DAG of calls and any completion order', () => {
  it('completes, scheduling every call exactly once, never before its input placeholders finished and as soon as they have', () => {
    fc.assert(
      fc.property(dagArb(false), fc.integer(), (calls, seed) => {
        const { outcome, scheduled, decisions } = drive(calls, seed);
        expect(outcome).toEqual({ kind: 'completed', result: values(calls) });
        expect(scheduled.size).toBe(calls.length);
        expect(decisions).toBeLessThanOrEqual(calls.length + 1);
      }),
      { numRuns: 300 },
    );
  });

  it('also when inputs hold .result() values: the body then waits there, and every call it reaches is scheduled once its inputs finished', () => {
    fc.assert(
      fc.property(dagArb(true), fc.integer(), (calls, seed) => {
        const { outcome, scheduled } = drive(calls, seed);
        expect(outcome).toEqual({ kind: 'completed', result: values(calls) });
        expect(scheduled.size).toBe(calls.length);
      }),
      { numRuns: 300 },
    );
  });

  it('fails the workflow with the TaskError of a call that fails, and never schedules a call that takes its result', () => {
    fc.assert(
      fc.property(
        dagArb(true).chain((calls) => fc.tuple(fc.constant(calls), fc.nat({ max: calls.length - 1 }))),
        fc.integer(),
        ([calls, failing], seed) => {
          const { outcome, scheduled } = drive(calls, seed, failing);
          const failedId = callIds(calls)[failing]!;
          expect(outcome).toEqual({
            kind: 'failed',
            error: { code: 'ERR_TASK', message: `Activity "${calls[failing]!.name}" (call ${failedId}) failed: broken [ERR_BOOM]` },
          });
          expect(scheduled.has(failing)).toBe(true);
          for (const i of dependents(calls, failing))
            expect(scheduled.has(i), `${callIds(calls)[i]} takes the failed call's result`).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
