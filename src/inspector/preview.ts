import { redactText, SECRET_KEYS } from '../runtime/logger.js';

/** The longest payload preview the journal shows, in characters. */
export const PREVIEW_MAX = 2048;

/**
 * A value as a journal shows it: JSON text at most `max` characters long,
 * the values of secret keys and of the `redact` keys (any depth, any case)
 * replaced by `[redacted]`, secrets inside text masked as the logs mask them.
 * Never throws (a cycle, a BigInt, a function are described).
 * @example
 * previewOf({ user: 'ann', password: 'x', card: '4111' }, ['card']) // '{"user":"ann","password":"[redacted]","card":"[redacted]"}'
 */
export function previewOf(value: unknown, redact: readonly string[], max = PREVIEW_MAX): string {
  const hidden = new Set([...SECRET_KEYS, ...redact.map((key) => key.toLowerCase())]);
  const seen = new Set<object>();
  let budget = max * 4;
  const walk = (item: unknown, depth: number): unknown => {
    if (typeof item === 'string') {
      const cut = item.length > budget ? `${item.slice(0, Math.max(0, budget))}…` : item;
      budget -= cut.length;
      return redactText(cut);
    }
    if (typeof item === 'bigint') return String(item);
    if (typeof item === 'function') return '[function]';
    if (item === null || typeof item !== 'object') return item;
    if (item instanceof Uint8Array) return `[${item.byteLength} bytes]`;
    if (item instanceof Date) return item.toISOString();
    if (seen.has(item)) return '[cycle]';
    if (depth > 8 || budget <= 0) return Array.isArray(item) ? `[${item.length} items]` : '[object]';
    seen.add(item);
    if (item instanceof Map || item instanceof Set) return `[${item.constructor.name} of ${item.size}]`;
    if (Array.isArray(item)) return item.slice(0, 200).map((entry) => walk(entry, depth + 1));
    const copy: Record<string, unknown> = {};
    for (const [key, entry] of Object.entries(item)) {
      if (budget <= 0) {
        copy['…'] = 'more keys';
        break;
      }
      budget -= key.length;
      copy[key] = hidden.has(key.toLowerCase()) ? '[redacted]' : walk(entry, depth + 1);
    }
    return copy;
  };
  let text: string;
  try {
    text = JSON.stringify(walk(value, 0)) ?? String(value);
  } catch (error) {
    text = `[not shown: ${(error as Error).message}]`;
  }
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more)`;
}
