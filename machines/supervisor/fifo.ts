/** A cell of a singly linked list; never changed once made. */
interface Cell<T> {
  readonly value: T;
  readonly next: Cell<T> | undefined;
}

function reversed<T>(cell: Cell<T> | undefined): Cell<T> | undefined {
  let out: Cell<T> | undefined;
  for (let at = cell; at; at = at.next) out = { value: at.value, next: out };
  return out;
}

/**
 * A persistent first-in first-out list (Okasaki's batched queue): every
 * operation returns a new list and leaves this one as it was, sharing the
 * cells both have. `push` and `shift` cost O(1) amortised: the rear list
 * is reversed into the front one when the front runs out.
 */
export class Fifo<T> {
  private static readonly none = new Fifo<never>(undefined, undefined, 0);

  private constructor(
    /** The oldest values, oldest first. */
    private readonly front: Cell<T> | undefined,
    /** The newest values, newest first. */
    private readonly rear: Cell<T> | undefined,
    /** How many values it holds. */
    readonly size: number,
  ) {}

  /** The empty list. */
  static empty<T>(): Fifo<T> {
    return Fifo.none;
  }

  /** A list of `values`, the first of them oldest. */
  static from<T>(values: readonly T[]): Fifo<T> {
    let front: Cell<T> | undefined;
    for (let i = values.length - 1; i >= 0; i--) front = { value: values[i]!, next: front };
    return values.length === 0 ? Fifo.none : new Fifo(front, undefined, values.length);
  }

  /** The oldest value, or undefined when empty. */
  first(): T | undefined {
    return this.front?.value;
  }

  /** This list with `value` added as the newest. */
  push(value: T): Fifo<T> {
    // The front is empty only when the list is: a lone value goes straight to it.
    if (this.front === undefined) return new Fifo({ value, next: undefined }, undefined, 1);
    return new Fifo(this.front, { value, next: this.rear }, this.size + 1);
  }

  /** This list without its oldest value. */
  shift(): Fifo<T> {
    const front = this.front;
    if (front === undefined) return this;
    if (front.next) return new Fifo(front.next, this.rear, this.size - 1);
    return this.size === 1 ? Fifo.none : new Fifo(reversed(this.rear), undefined, this.size - 1);
  }

  /** The values, oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let at = this.front; at; at = at.next) out.push(at.value);
    const rear: T[] = [];
    for (let at = this.rear; at; at = at.next) rear.push(at.value);
    for (let i = rear.length - 1; i >= 0; i--) out.push(rear[i]!);
    return out;
  }

  toJSON(): T[] {
    return this.toArray();
  }
}
