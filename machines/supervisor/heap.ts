/** A node of a leftist heap; never changed once made. */
interface Node<T> {
  readonly value: T;
  /** The length of its rightmost path: kept shortest on the right, so merges stay O(log n). */
  readonly rank: number;
  readonly left: Node<T> | undefined;
  readonly right: Node<T> | undefined;
}

const rankOf = <T>(node: Node<T> | undefined): number => node?.rank ?? 0;

function merge<T>(a: Node<T> | undefined, b: Node<T> | undefined, before: (x: T, y: T) => boolean): Node<T> | undefined {
  if (!a) return b;
  if (!b) return a;
  if (before(b.value, a.value)) [a, b] = [b, a];
  const right = merge(a.right, b, before);
  const left = a.left;
  return rankOf(left) >= rankOf(right)
    ? { value: a.value, rank: rankOf(right) + 1, left, right }
    : { value: a.value, rank: rankOf(left) + 1, left: right, right: left };
}

/**
 * A persistent min-heap (a leftist heap): `push` and `pop` return a new
 * heap in O(log n), sharing the untouched nodes with this one, which stays
 * as it was.
 */
export class Heap<T> {
  private constructor(
    private readonly root: Node<T> | undefined,
    /** How many values it holds. */
    readonly size: number,
    private readonly before: (x: T, y: T) => boolean,
  ) {}

  /** An empty heap ordered by `before` (true when `x` comes out first). */
  static empty<T>(before: (x: T, y: T) => boolean): Heap<T> {
    return new Heap<T>(undefined, 0, before);
  }

  /** The first value, or undefined when empty. */
  min(): T | undefined {
    return this.root?.value;
  }

  /** This heap with `value` added. */
  push(value: T): Heap<T> {
    const single: Node<T> = { value, rank: 1, left: undefined, right: undefined };
    return new Heap(merge(this.root, single, this.before), this.size + 1, this.before);
  }

  /** This heap without its first value. */
  pop(): Heap<T> {
    const root = this.root;
    if (!root) return this;
    return new Heap(merge(root.left, root.right, this.before), this.size - 1, this.before);
  }

  /** The values, in no particular order. */
  toArray(): T[] {
    const out: T[] = [];
    const stack: Array<Node<T> | undefined> = [this.root];
    while (stack.length > 0) {
      const node = stack.pop();
      if (!node) continue;
      out.push(node.value);
      stack.push(node.left, node.right);
    }
    return out;
  }

  toJSON(): T[] {
    return this.toArray();
  }
}
