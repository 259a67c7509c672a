import { Flow, type AppInfo, type AppSections, type WorkerContext } from '../../actors/workers/worker.js';
import { deepEqual } from '../toolkit/client/body.js';
import { ConfigError, FlowdError } from '../kernel/errors.js';
import { retryOnConflict } from '../kernel/retry-on-conflict.js';
import { checkKnownSections } from './app-sections.js';
import { compileExpression, type CompiledExpression } from './expressions.js';
import { checkRecordId } from './record-names.js';
import { targetFromConfig, targetSettingsOf, type Target, type TargetRecord } from './targets.js';
import type { SectionLines } from './xml/custom-mapping.js';

/** One `[Mappings]` line: the field it writes and the expression that computes it. */
export interface FieldMapping {
  field: string;
  expression: CompiledExpression;
}

/** What one event did. */
export interface MetadataMapperResult {
  id: string;
  /** The fields written, with their new values; empty when nothing changed (no write, so no update loop). */
  changed: Record<string, unknown>;
  /** Attempts taken: more than 1 after a conflict. */
  attempts: number;
}

/** Attempts in all for a write that conflicts, each recomputed from the latest version (Flow's `retry_on_conflict(max_retries=5)`). */
const MAX_RETRIES = 5;

/**
 * Compiles `[Mappings]`: `target.field = expression`, in the order written.
 * Each expression sees `metadata` (the record's fields, so the seed's
 * `metadata.get('asset.title')` works), `fields` (the same), and `id`.
 * @example
 * // [Mappings]
 * // asset.alternateTitle = metadata.get('asset.title') + ' alternative'
 * const mappings = compileMappings(config, 'app.ini');
 */
export function compileMappings(config: AppSections, file?: string, lines?: SectionLines): FieldMapping[] {
  const section = config.Mappings;
  if (!section || Object.keys(section).length === 0) {
    throw new ConfigError({ file, section: 'Mappings' }, 'is missing or empty; expected at least one line target.field = expression');
  }
  return Object.entries(section).map(([field, source]) => ({
    field,
    expression: compileExpression(source, { file, section: 'Mappings', key: field, line: lines?.get('Mappings')?.get(field) }),
  }));
}

/**
 * Computes the mapped fields of a record; a field whose expression gives
 * `undefined` is left alone.
 */
export function applyMappings(mappings: readonly FieldMapping[], record: TargetRecord): Record<string, unknown> {
  const scope = { metadata: record.fields, fields: record.fields, id: record.id };
  const computed: Record<string, unknown> = {};
  for (const { field, expression } of mappings) {
    const value = expression.evaluate(scope);
    if (value !== undefined) computed[field] = value;
  }
  return computed;
}

/** The fields of `computed` whose value differs from the record's. */
export function changedFields(record: TargetRecord, computed: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(computed).filter(([field, value]) => !deepEqual(record.fields[field], value)));
}

/**
 * The seed's metadata mapper (`[Flow] class = metadatamapper.MetadataMapper`):
 * reacts to record-update events, computes `[Mappings]` over the record's
 * fields, and writes back only the fields whose value changed, so its own
 * write (which makes another update event) changes nothing and ends there.
 *
 * The event names a record: `{ id }`, a record `{ id, fields }`, or either
 * as the body of an HTTP request or a STOMP message. The record is always
 * read from the `[Target]`, with its version, so a stale event cannot undo
 * a newer change; the write is conditional on that version and recomputed
 * from the latest one on a conflict (up to 5 retries). Its source is the
 * HTTP source (127.0.0.1:8080 unless `[Source]` says otherwise), so the
 * seed's INI, whose `[Source]` is empty (Flow's AssetEntryListener), runs
 * as written; `[Source] type = stomp` takes the events from an update topic.
 *
 * @example
 * [Flow]
 * class = metadatamapper.MetadataMapper
 * [Source]
 * type = http
 * [Target]
 * type = http
 * path = /api/records
 * [Mappings]
 * asset.alternateTitle = metadata.get('asset.title') + ' alternative'
 */
export class MetadataMapper extends Flow<unknown, MetadataMapperResult> {
  /** The HTTP source: update events POSTed as `{ id }` or a record. Flow listened to Viz One's asset entries. */
  static override SOURCE = 'http';
  #target!: Target;
  #mappings!: FieldMapping[];

  /** The target records are read from and written to (after configure()). */
  get target(): Target {
    return this.#target;
  }

  /** Compiles `[Target]` and `[Mappings]` without starting anything: ConfigError naming `file` on a problem. For `flowd check`. */
  static checkConfig(config: AppSections, app: AppInfo, file?: string, lines?: SectionLines): void {
    targetSettingsOf(config, app, file);
    checkKnownSections(config, { app: 'metadatamapper.MetadataMapper', sections: ['Target', 'Mappings'] }, file);
    compileMappings(config, file, lines);
  }

  override configure(): void {
    this.#target = targetFromConfig(this).target;
    this.#mappings = compileMappings(this.config);
    this.log.info(`metadatamapper: ${this.#mappings.length} mapping(s) on ${this.#target.description}`);
  }

  async start(event: unknown, ctx: WorkerContext): Promise<MetadataMapperResult> {
    const id = checkRecordId(recordIdOf(event), 'metadatamapper event');
    let attempts = 0;
    const changed = await retryOnConflict(
      async () => {
        attempts++;
        const current = await this.#target.get(id, { signal: ctx.signal });
        if (!current) throw new FlowdError('ERR_RECORD', `metadatamapper: record "${id}" does not exist in ${this.#target.description}`);
        const changes = changedFields(current.record, applyMappings(this.#mappings, current.record));
        if (Object.keys(changes).length === 0) return changes;
        await this.#target.createOrUpdate(id, changes, {
          ...(current.etag !== undefined ? { etag: current.etag } : {}),
          signal: ctx.signal,
        });
        return changes;
      },
      { maxRetries: MAX_RETRIES, backoffMs: 20, signal: ctx.signal },
    );
    ctx.log.info(
      { id, changed: Object.keys(changed), attempts },
      Object.keys(changed).length ? `record "${id}": wrote ${Object.keys(changed).join(', ')}` : `record "${id}": nothing changed`,
    );
    return { id, changed, attempts };
  }
}

/** The record id an event names: `{ id }`, or the body of an HTTP request or STOMP message (JSON text is parsed). */
export function recordIdOf(event: unknown): unknown {
  let value = event;
  for (let depth = 0; depth < 3 && value && typeof value === 'object'; depth++) {
    const object = value as { id?: unknown; body?: unknown; record?: unknown };
    if (typeof object.id === 'string' || typeof object.id === 'number') return String(object.id);
    value = object.record ?? (typeof object.body === 'string' ? parseJson(object.body) : object.body);
  }
  throw new FlowdError(
    'ERR_PAYLOAD',
    `metadatamapper: expected an event naming a record, { "id": ... } or a record { "id", "fields" }; found ${JSON.stringify(event)?.slice(0, 160)}`,
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
