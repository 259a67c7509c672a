/** One key and its value, with the key's hash. */
interface Entry<K, V> {
  readonly key: K;
  readonly value: V;
  readonly hash: number;
}

/** 32 children, chosen by five bits of the hash at each level. */
class Branch<K, V> {
  constructor(readonly kids: ReadonlyArray<Slot<K, V> | undefined>) {}
}

/** Entries whose hashes are equal in every bit. */
type Bucket<K, V> = ReadonlyArray<Entry<K, V>>;
type Slot<K, V> = Entry<K, V> | Branch<K, V> | Bucket<K, V>;

const BITS = 5;
const MASK = 31;

function hashOf(key: string | number): number {
  if (typeof key === 'number') return Math.imul(key | 0, 0x9e3779b1) >>> 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

function find<K, V>(slot: Slot<K, V> | undefined, key: K, hash: number): Entry<K, V> | undefined {
  for (let shift = 0; slot; shift += BITS) {
    if (slot instanceof Branch) slot = slot.kids[(hash >>> shift) & MASK];
    else if (Array.isArray(slot)) return (slot as Bucket<K, V>).find((entry) => entry.key === key);
    else return (slot as Entry<K, V>).key === key ? (slot as Entry<K, V>) : undefined;
  }
  return undefined;
}

function put<K, V>(slot: Slot<K, V> | undefined, entry: Entry<K, V>, shift: number): Slot<K, V> {
  if (slot === undefined) return entry;
  if (slot instanceof Branch) {
    const at = (entry.hash >>> shift) & MASK;
    const kids = slot.kids.slice();
    kids[at] = put(kids[at], entry, shift + BITS);
    return new Branch(kids);
  }
  if (Array.isArray(slot)) {
    const bucket = slot as Bucket<K, V>;
    return [...bucket.filter((other) => other.key !== entry.key), entry];
  }
  const other = slot as Entry<K, V>;
  if (other.key === entry.key) return entry;
  if (other.hash === entry.hash) return [other, entry];
  const kids = new Array<Slot<K, V> | undefined>(32);
  kids[(other.hash >>> shift) & MASK] = other;
  return put(new Branch(kids), entry, shift);
}

function cut<K, V>(slot: Slot<K, V> | undefined, key: K, hash: number, shift: number): Slot<K, V> | undefined {
  if (slot === undefined) return undefined;
  if (slot instanceof Branch) {
    const at = (hash >>> shift) & MASK;
    const kid = cut(slot.kids[at], key, hash, shift + BITS);
    const kids = slot.kids.slice();
    kids[at] = kid;
    return kids.some((k) => k !== undefined) ? new Branch(kids) : undefined;
  }
  if (Array.isArray(slot)) {
    const rest = (slot as Bucket<K, V>).filter((entry) => entry.key !== key);
    return rest.length === 0 ? undefined : rest.length === 1 ? rest[0] : rest;
  }
  return (slot as Entry<K, V>).key === key ? undefined : slot;
}

function* walk<K, V>(slot: Slot<K, V> | undefined): Generator<Entry<K, V>> {
  if (slot === undefined) return;
  if (slot instanceof Branch) for (const kid of slot.kids) yield* walk(kid);
  else if (Array.isArray(slot)) yield* slot as Bucket<K, V>;
  else yield slot as Entry<K, V>;
}

/**
 * A persistent map (a hash array mapped trie): `set` and `delete` return a
 * new map that shares all but the path to the changed key with this one,
 * which stays as it was. O(log32 n) a change, so a snapshot of a large
 * map costs nothing to keep.
 */
export class KeyMap<K extends string | number, V> {
  private static readonly none = new KeyMap<never, never>(undefined, 0);

  private constructor(
    private readonly root: Slot<K, V> | undefined,
    /** How many keys it holds. */
    readonly size: number,
  ) {}

  /** The empty map. */
  static empty<K extends string | number, V>(): KeyMap<K, V> {
    return KeyMap.none as unknown as KeyMap<K, V>;
  }

  get(key: K): V | undefined {
    return find(this.root, key, hashOf(key))?.value;
  }

  has(key: K): boolean {
    return find(this.root, key, hashOf(key)) !== undefined;
  }

  /** This map with `key` set to `value`. */
  set(key: K, value: V): KeyMap<K, V> {
    const hash = hashOf(key);
    const size = find(this.root, key, hash) ? this.size : this.size + 1;
    return new KeyMap(put(this.root, { key, value, hash }, 0), size);
  }

  /** This map without `key` (itself when it has no such key). */
  delete(key: K): KeyMap<K, V> {
    const hash = hashOf(key);
    if (!find(this.root, key, hash)) return this;
    return this.size === 1 ? KeyMap.empty() : new KeyMap(cut(this.root, key, hash, 0), this.size - 1);
  }

  *entries(): Generator<[K, V]> {
    for (const entry of walk(this.root)) yield [entry.key, entry.value];
  }

  *values(): Generator<V> {
    for (const entry of walk(this.root)) yield entry.value;
  }

  toJSON(): Record<string, V> {
    return Object.fromEntries(this.entries());
  }
}
