import { redactDeep } from '../runtime/logger.js';

/** A context summary: a few flat, display-ready values; never the raw context. */
export type Summary = Record<string, string | number | boolean | null>;

/** The longest text a summary (or a sanitized payload) keeps. */
export const MAX_TEXT = 120;

/** What summaries need from the runtime besides the actor's own snapshot. */
export interface SummaryContext {
  /** The runtime clock's now, in ms (slots' `startedAt` is on that clock). */
  now(): number;
  /** The source's type and its driver's counters, if the runtime has them. */
  source?: (() => { type: string; stats?: Record<string, number> | undefined }) | undefined;
}

/** Cuts text to `max` characters, saying how much was left out. */
export function truncate(text: string, max = MAX_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more)`;
}

/**
 * A copy of any value that is safe to show: secret keys redacted (as in the
 * logs), strings truncated, at most `maxKeys` keys / items per level and
 * `depth` levels; Maps, Sets, functions and actor refs described, not copied.
 */
export function sanitize(value: unknown, { depth = 4, maxKeys = 20, maxText = MAX_TEXT } = {}): unknown {
  const walk = (item: unknown, level: number): unknown => {
    if (typeof item === 'string') return truncate(item, maxText);
    if (item === null || typeof item !== 'object')
      return typeof item === 'function' ? '[function]' : typeof item === 'bigint' ? String(item) : item;
    if (level >= depth) return Array.isArray(item) ? `[${item.length} items]` : '[object]';
    if (item instanceof Map || item instanceof Set) return `[${item.constructor.name} of ${item.size}]`;
    if (typeof (item as { send?: unknown }).send === 'function' && 'sessionId' in item)
      return `[actor ${String((item as { id?: unknown }).id)}]`;
    if (Array.isArray(item)) {
      const shown = item.slice(0, maxKeys).map((entry) => walk(entry, level + 1));
      return item.length > maxKeys ? [...shown, `… ${item.length - maxKeys} more`] : shown;
    }
    const out: Record<string, unknown> = {};
    const entries = Object.entries(item);
    for (const [key, entry] of entries.slice(0, maxKeys)) out[key] = walk(entry, level + 1);
    if (entries.length > maxKeys) out['…'] = `${entries.length - maxKeys} more keys`;
    return out;
  };
  // Bounded first (a supervisor's queue may hold a thousand payloads), then redacted as the logs are.
  return redactDeep(walk(value, 0));
}

type Ctx = Record<string, unknown>;
const num = (value: unknown): number | null => (typeof value === 'number' ? value : null);
const sizeOf = (value: unknown): number | null =>
  value && typeof (value as { size?: unknown }).size === 'number'
    ? (value as { size: number }).size
    : Array.isArray(value)
      ? value.length
      : null;
const text = (value: unknown): string | null => (value === undefined || value === null ? null : truncate(String(value)));

/** Flat primitives of an unknown machine's context, redacted and truncated. */
function genericSummary(context: unknown): Summary {
  const safe = sanitize(context, { depth: 1, maxKeys: 12 });
  const summary: Summary = {};
  if (!safe || typeof safe !== 'object') return summary;
  for (const [key, value] of Object.entries(safe as Ctx)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) summary[key] = value as string | number | boolean | null;
  }
  return summary;
}

/**
 * The summary the inspector shows for one actor, by its machine id; a
 * machine it does not know gets its context's flat values, redacted.
 */
export function summarize(machine: string, state: string, context: unknown, runtime: SummaryContext): Summary {
  const c = (context ?? {}) as Ctx;
  switch (machine) {
    case 'supervisor': {
      // Its working set is its ledger (machines/supervisor/ledger-state.ts).
      const ledger = (c.ledger ?? {}) as Ctx;
      const counters = (ledger.counters ?? {}) as Ctx;
      return {
        queue: sizeOf(ledger.queue) ?? 0,
        running: num(ledger.running) ?? 0,
        retrying: sizeOf(ledger.retrying) ?? 0,
        abandoned: num(ledger.abandoned) ?? 0,
        received: num(counters.received) ?? 0,
        completed: num(counters.completed) ?? 0,
        failed: num(counters.failed) ?? 0,
        expired: num(counters.expired) ?? 0,
      };
    }
    case 'worker-slot': {
      const job =
        state === 'busy' || state === 'abandoned' || state === 'terminating'
          ? (c.job as { delivery?: { id?: unknown }; attempt?: unknown; startedAt?: unknown } | undefined)
          : undefined;
      // An abandoned run's job may be running again elsewhere (a retry): the slot's own start time says how long this one has hung.
      const startedAt = job ? (num(c.startedAt) ?? num(job.startedAt)) : null;
      return {
        event: text(job?.delivery?.id),
        attempt: num(job?.attempt),
        runningMs: startedAt === null ? null : Math.max(0, runtime.now() - startedAt),
      };
    }
    case 'source': {
      const info = runtime.source?.();
      const lastError = c.lastError as { message?: unknown } | undefined;
      return {
        type: info?.type ?? null,
        connection: state,
        attempt: num(c.attempt) ?? 0,
        paused: c.paused === true,
        pausedFor: Array.isArray(c.pausedFor) ? (c.pausedFor as unknown[]).map(String).join(', ') : '',
        lastError: text(lastError?.message),
        ...(info?.stats ?? {}),
      };
    }
    case 'store': {
      const error = c.error as { message?: unknown } | undefined;
      return { backendUp: c.backendUp !== false, error: text(error?.message) };
    }
    case 'lock': {
      const holder = c.holder as { requestId?: unknown; fence?: unknown } | undefined;
      return { key: text(c.key), holder: text(holder?.requestId), waiters: sizeOf(c.waiters) ?? 0, fence: num(c.fence) ?? 0 };
    }
    case 'plugin': {
      const error = c.error as { message?: unknown; eventId?: unknown } | undefined;
      const callbacks = Array.isArray(c.callbacks) ? (c.callbacks as Array<{ name?: unknown }>).map((cb) => text(cb.name)).join(', ') : '';
      return {
        plugin: text(c.name),
        callbacks: text(callbacks),
        loads: num(c.loads) ?? 0,
        error: text(error?.message),
        eventId: num(error?.eventId),
      };
    }
    case 'workflow-run': {
      const workflow = c.workflow as { name?: unknown; version?: unknown } | undefined;
      const error = c.lastError as { message?: unknown } | undefined;
      return {
        run: text(c.runId),
        workflow: text(workflow?.name),
        version: text(workflow?.version === undefined ? undefined : String(workflow.version)),
        decisions: num(c.decisions) ?? 0,
        pending: num(c.pending) ?? 0,
        lastError: text(error?.message),
      };
    }
    default:
      return genericSummary(context);
  }
}
