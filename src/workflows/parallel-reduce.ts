/**
 * `parallelReduce(fn, items)`, as Flowy's `parallel_reduce`: a reduce whose
 * steps start as soon as any two values are available, not in list order.
 */
import { WorkflowError } from './errors.js';
import { Placeholder, callOf, type CallHandle } from './workflow-api.js';

/** What one step of parallelReduce gives back: usually an activity call's placeholder, or a plain value. */
export type Reduced<T> = Placeholder<T> | T;

/** An item waiting to be reduced: plain values are available at once and come first; placeholders by the order they finished. */
interface Entry<T> {
  value: Reduced<T>;
  /** -Infinity for a plain value; the history's order for a finished placeholder; Infinity for one still running. */
  order: number;
  /** Insertion order, which breaks ties (plain values in list order; running placeholders as they were made). */
  seq: number;
}

/**
 * Reduces `items` with `fn`, which must be associative and commutative
 * (Flowy's rule): the reduction starts with whichever two values are
 * available first: plain values at once, in list order, then placeholders in
 * the order they finished, then the ones still running, in the order they
 * were made. `fn` is called exactly `items.length - 1` times (once more with
 * `initial`), and its steps that depend only on finished values are
 * scheduled in the same decision. The result is a placeholder of the last
 * step; a failed item or step fails it (`result()` throws its TaskError).
 * With one item and no `initial`, that item is the result. Throws a
 * WorkflowError for no items and no `initial`.
 *
 * The order is the history's, so every replay makes the same calls: a step
 * scheduled in one decision is made with the same inputs in the next.
 * @example
 * const add = wf.activity(Add); // (pair: [number, number]) => number
 * const parts = chunks.map((chunk) => count(chunk));
 * const total = wf.parallelReduce((a, b) => add([a, b]), parts).result();
 */
export function parallelReduce<T>(
  fn: (a: Reduced<T>, b: Reduced<T>) => Reduced<T>,
  items: Iterable<Reduced<T>>,
  ...initial: [] | [T | Placeholder<T>]
): Placeholder<T> {
  if (typeof fn !== 'function') throw new WorkflowError(`parallelReduce(fn, items) needs a function fn(a, b); found ${typeof fn}`);
  const all = [...initial, ...items];
  if (all.length === 0) throw new WorkflowError('parallelReduce() of no items and no initial value; expected at least one item');
  let seq = 0;
  const heap: Entry<T>[] = [];
  const push = (value: Reduced<T>) => {
    const order = value instanceof Placeholder ? callOf(value).order : -Infinity;
    heap.push({ value, order, seq: seq++ });
    heap.sort((a, b) => a.order - b.order || a.seq - b.seq);
  };
  for (const item of all) push(item);
  while (heap.length > 1) {
    const a = heap.shift()!;
    const b = heap.shift()!;
    push(fn(a.value, b.value));
  }
  const last = heap[0]!.value;
  return last instanceof Placeholder ? last : settled(last);
}

/** A placeholder of a value known now (one plain item, or steps that returned plain values), as Flowy wraps it. */
function settled<T>(value: T): Placeholder<T> {
  const handle: CallHandle<T> = {
    callId: '(value)',
    finished: true,
    failure: undefined,
    order: -1,
    seq: -1,
    value: () => value,
    noteRead: () => {},
    suspend: () => {
      throw new WorkflowError('a settled value does not wait');
    },
  };
  return new Placeholder(handle);
}
