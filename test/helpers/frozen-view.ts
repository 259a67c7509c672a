/**
 * A snapshot's context as plain data, walked through every own property
 * (ignoring `toJSON`, so a persistent structure's internals are compared,
 * not only what it shows), Maps as their entries, actors by id, functions
 * as a mark. Two calls return equal values exactly when nothing reachable
 * changed in between.
 */
export function plainView(value: unknown, seen = new Map<object, unknown>()): unknown {
  if (typeof value === 'function') return '<fn>';
  if (value === null || typeof value !== 'object') return value;
  if (isActor(value)) return `<actor ${(value as { id: string }).id}>`;
  if (seen.has(value)) return seen.get(value);
  if (value instanceof Map) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const [k, v] of value) out.push([plainView(k, seen), plainView(v, seen)]);
    return out;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(plainView(item, seen));
    return out;
  }
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const key of Object.keys(value)) out[key] = plainView((value as Record<string, unknown>)[key], seen);
  return out;
}

/**
 * Freezes every object reachable from `value` (but actors), so that any
 * later write to one throws (ESM code is strict). Maps cannot be frozen:
 * `plainView` catches changes to those.
 */
export function deepFreeze<T>(value: T, seen = new Set<object>()): T {
  if (value === null || typeof value !== 'object' || seen.has(value) || isActor(value)) return value;
  seen.add(value);
  if (value instanceof Map) for (const [k, v] of value) (deepFreeze(k, seen), deepFreeze(v, seen));
  else for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key], seen);
  return Object.freeze(value);
}

const isActor = (value: object): boolean =>
  typeof (value as { send?: unknown }).send === 'function' && typeof (value as { getSnapshot?: unknown }).getSnapshot === 'function';
