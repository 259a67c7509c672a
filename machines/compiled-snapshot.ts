import { matchesState, type AnyActorRef, type AnyStateMachine, type AnyStateNode, type EventObject } from 'xstate';
import type { Candidate, StateRecord, StateValue } from './compiled-table.js';

/**
 * A compiled machine's snapshot, and its persisted form: what xstate's
 * machine snapshot offers (value, context, status, output, error, children,
 * tags, matches, hasTag, can, getMeta, toJSON) in one small object, and the
 * same persisted shape as xstate's, so either can restore the other's.
 */

/** What a snapshot asks of its compiled machine. */
export interface SnapshotCore {
  readonly machine: AnyStateMachine;
  readonly table: { root: AnyStateNode };
  select(snapshot: { context: unknown }, state: StateRecord, event: EventObject): Candidate | undefined;
}

export const ACTOR_TYPE = 1; // xstate's marker for an actor in a persisted context

/** A compiled machine's snapshot: what a machine snapshot offers, made in one allocation. */
export class CompiledSnapshot {
  constructor(
    readonly status: 'active' | 'done' | 'error' | 'stopped',
    readonly value: StateValue,
    readonly context: Record<string, unknown>,
    readonly children: Record<string, AnyActorRef | undefined>,
    readonly output: unknown,
    readonly error: unknown,
    readonly _state: StateRecord,
    readonly _core: SnapshotCore,
  ) {}
  get machine(): AnyStateMachine {
    return this._core.machine;
  }
  get tags(): Set<string> {
    return this._state.tags;
  }
  get historyValue(): Record<string, never> {
    return {};
  }
  get _nodes(): unknown[] {
    return this._state.nodes;
  }
  matches(value: unknown): boolean {
    return matchesState(value as string, this.value as never);
  }
  hasTag(tag: string): boolean {
    return this._state.tags.has(tag);
  }
  can(event: EventObject): boolean {
    return this._core.select(this, this._state, event)?.enabling ?? false;
  }
  getMeta(): Record<string, unknown> {
    const meta: Record<string, unknown> = {};
    for (const node of this._state.nodes) if (node.meta !== undefined) meta[node.id] = node.meta;
    return meta;
  }
  toJSON(): object {
    const { status, output, error, context, value, children } = this;
    return { status, output, error, context, value, children, historyValue: {}, tags: [...this.tags] };
  }
}

export function persistContext(part: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key in part) {
    const value = part[key];
    if (!value || typeof value !== 'object') continue;
    const replaced =
      'sessionId' in value && 'send' in value && 'ref' in value
        ? { xstate$$type: ACTOR_TYPE, id: (value as unknown as AnyActorRef).id }
        : persistContext(value as Record<string, unknown>);
    if (replaced !== value) (copy ??= Array.isArray(part) ? (part.slice() as never) : { ...part })[key] = replaced;
  }
  return copy ?? part;
}

export function reviveContext(part: Record<string, unknown>, children: Record<string, AnyActorRef>, seen = new Set<unknown>()): void {
  if (seen.has(part)) return;
  seen.add(part);
  for (const key in part) {
    const value = part[key] as { xstate$$type?: unknown; id?: string } | null;
    if (!value || typeof value !== 'object') continue;
    if (value.xstate$$type === ACTOR_TYPE) part[key] = children[value.id!];
    else reviveContext(value as Record<string, unknown>, children, seen);
  }
}
