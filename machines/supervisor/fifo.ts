/** A cell of a singly linked list; never changed once made. */
interface Cell<T> {
  readonly value: T;
  readonly next: Cell<T> | undefined;
}

/** Values per chunk: the newest chunk is copied on each push, the full ones are shared. */
const CHUNK = 32;

function reversed<T>(cell: Cell<T> | undefined): Cell<T> | undefined {
  let out: Cell<T> | undefined;
  for (let at = cell; at; at = at.next) out = { value: at.value, next: out };
  return out;
}

/**
 * A persistent first-in first-out list: every operation returns a new list
 * and leaves this one as it was, sharing what both hold. Values sit in
 * chunks of 32 that are never changed once full; the newest, partial chunk
 * is copied on each push (at most 32 slots). The full chunks form Okasaki's
 * batched queue (a front list, and a rear list reversed into it when the
 * front runs out), so `push` and `shift` cost O(1) amortised, and a value
 * kept for long costs one slot of a shared chunk, not a list cell.
 */
export class Fifo<T> {
  private static readonly none = new Fifo<never>(undefined, undefined, [], 0, 0);

  private constructor(
    /** The oldest full chunks, oldest first; undefined only when there is none at all. */
    private readonly front: Cell<readonly T[]> | undefined,
    /** Newer full chunks, newest first. */
    private readonly rear: Cell<readonly T[]> | undefined,
    /** The newest chunk, not full. */
    private readonly tail: readonly T[],
    /** Values of the oldest chunk (the front's first, or else the tail) already shifted. */
    private readonly offset: number,
    /** How many values it holds. */
    readonly size: number,
  ) {}

  /** The empty list. */
  static empty<T>(): Fifo<T> {
    return Fifo.none;
  }

  /** A list of `values`, the first of them oldest. */
  static from<T>(values: readonly T[]): Fifo<T> {
    return (Fifo.none as Fifo<T>).pushAll(values);
  }

  /** The oldest value, or undefined when empty. */
  first(): T | undefined {
    if (this.size === 0) return undefined;
    return (this.front ? this.front.value : this.tail)[this.offset];
  }

  /** This list with `value` added as the newest. */
  push(value: T): Fifo<T> {
    const { front, rear, tail, offset } = this;
    if (tail.length < CHUNK) return new Fifo(front, rear, [...tail, value], offset, this.size + 1);
    // The tail is full: it joins the full chunks (as the front when there is none), and a new tail starts.
    if (!front) return new Fifo({ value: tail, next: undefined }, undefined, [value], offset, this.size + 1);
    return new Fifo(front, { value: tail, next: rear }, [value], offset, this.size + 1);
  }

  /** This list with `values` added, the last of them newest: one copy of the newest chunk for all of them. */
  pushAll(values: readonly T[]): Fifo<T> {
    if (values.length === 0) return this;
    let { front, rear, offset } = this;
    let tail = [...this.tail];
    for (const value of values) {
      if (tail.length === CHUNK) {
        if (!front) front = { value: tail, next: undefined };
        else rear = { value: tail, next: rear };
        tail = [];
      }
      tail.push(value);
    }
    return new Fifo(front, rear, tail, offset, this.size + values.length);
  }

  /** This list without its oldest value. */
  shift(): Fifo<T> {
    if (this.size <= 1) return Fifo.none;
    const { front, rear, tail } = this;
    const offset = this.offset + 1;
    if (!front) return new Fifo(undefined, undefined, tail, offset, this.size - 1);
    if (offset < front.value.length) return new Fifo(front, rear, tail, offset, this.size - 1);
    const next = front.next ?? reversed(rear);
    return new Fifo(next, front.next ? rear : undefined, tail, 0, this.size - 1);
  }

  /** The values, oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    let skip = this.offset;
    const take = (chunk: readonly T[]): void => {
      for (let i = skip; i < chunk.length; i++) out.push(chunk[i]!);
      skip = 0;
    };
    for (let at = this.front; at; at = at.next) take(at.value);
    const rear: Array<readonly T[]> = [];
    for (let at = this.rear; at; at = at.next) rear.push(at.value);
    for (let i = rear.length - 1; i >= 0; i--) take(rear[i]!);
    take(this.tail);
    return out;
  }

  toJSON(): T[] {
    return this.toArray();
  }
}
