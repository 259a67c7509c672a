import type { SupervisorSettings } from '../../machines/supervisor.js';
import type { SectionReader } from '../kernel/section-reader.js';

/** `[Flow]` keys the runtime owns, besides the supervisor's settings. */
export interface FlowIdentity {
  appName: string | undefined;
  workerClass: string | undefined;
  stateDir: string | undefined;
}

/**
 * Why `name` cannot name an app, or undefined when it can: the name becomes
 * a folder (.flowd/<name>), so nothing that could lead out of it.
 * @example appNameProblem('../x') // 'found "../x"; expected a name without ...'
 */
export function appNameProblem(name: string): string | undefined {
  if (!/[/\\\0]/.test(name) && name.trim() !== '.' && name.trim() !== '..' && name.trim() !== '') return undefined;
  return `found "${name}"; expected a name without "/", "\\" or NUL that is not empty, "." or ".." (it names the state folder .flowd/<name>)`;
}

/**
 * Compiles `[Flow]` (or the same keys given in code) into the supervisor's
 * fully-defaulted settings. Every default is the documented one.
 */
export function compileFlowSettings(reader: SectionReader): FlowIdentity & { settings: SupervisorSettings } {
  const appName = reader.string('app name');
  const workerClass = reader.string('class');
  const stateDir = reader.string('state dir');
  const workers = reader.integer('workers', 1, { min: 1, max: 4096 });
  const queueSize = reader.integer('queue size', 1000, { min: 1 });
  const highWatermark = reader.integer('high watermark', Math.max(1, Math.ceil(queueSize * 0.8)), { min: 1, max: queueSize });
  const lowWatermark = reader.integer('low watermark', Math.floor(highWatermark / 2), { min: 0 });
  if (lowWatermark >= highWatermark)
    reader.fail('low watermark', `found ${lowWatermark}; expected less than the high watermark (${highWatermark})`);
  const queueTimeoutMs = reader.duration('queue timeout', 60_000, { minMs: 1 });
  const executionTimeoutMs = reader.duration('execution timeout', 60_000, { minMs: 1 });
  const shutdownTimeoutMs = reader.duration('shutdown timeout', 30_000);
  const retries = reader.integer('retries', 0, { min: 0, max: 1000 });
  const kind = reader.choice('retry backoff', ['exponential', 'fixed'] as const, 'exponential');
  const delayMs = reader.duration('retry delay', 1000);
  const maxDelayMs = reader.duration('retry max delay', Math.max(60_000, delayMs));
  if (maxDelayMs < delayMs) reader.fail('retry max delay', `found ${maxDelayMs}ms; expected at least the retry delay (${delayMs}ms)`);
  const isolation = reader.choice('isolation', ['process', 'thread'] as const, 'process');
  const orderByText = reader.string('order by');
  let orderBy: string[] | undefined;
  if (orderByText !== undefined) {
    orderBy = orderByText.trim().split('.');
    if (orderBy.some((step) => step === '' || step === '__proto__' || step === 'constructor' || step === 'prototype')) {
      reader.fail('order by', `found "${orderByText}"; expected a dotted path into the event such as headers.asset-id`);
    }
  }
  return {
    appName,
    workerClass,
    stateDir,
    settings: {
      workers,
      queueSize,
      highWatermark,
      lowWatermark,
      queueTimeoutMs,
      executionTimeoutMs,
      shutdownTimeoutMs,
      retries,
      backoff: { kind, delayMs, maxDelayMs },
      orderBy,
      ...(isolation === 'thread' ? { isolation } : {}),
    },
  };
}

/** `[Log]`, compiled. */
export interface LogSettings {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  file: string | undefined;
}

export function compileLogSettings(reader: SectionReader): LogSettings {
  return {
    level: reader.choice('level', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info'),
    file: reader.string('file'),
  };
}

/** `fooBar` -> `foo bar`: code options map onto the INI key of the same name. */
export function toIniKeys(options: Record<string, unknown>): Map<string, string | number | boolean | undefined> {
  const map = new Map<string, string | number | boolean | undefined>();
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const iniKey = key.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
    map.set(iniKey, Array.isArray(value) ? value.join('.') : (value as string | number | boolean));
  }
  return map;
}
