/**
 * Reads a dotted path (`headers.asset-id`) from a value, through own
 * properties only. Returns undefined when any step is missing.
 */
export function readPath(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const step of path) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, step)) return undefined;
    current = (current as Record<string, unknown>)[step];
  }
  return current;
}

/** The ordering key of a payload: a string or number at the path, else undefined (unordered). */
export function orderingKey(payload: unknown, path: readonly string[] | undefined): string | undefined {
  if (!path) return undefined;
  const value = readPath(payload, path);
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}
