import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import type { WorkerContext } from '../workers/worker.js';

/**
 * What a plugin sees: one event of the log (the seed's Shotgun event), as
 * every event-log reader (PostgreSQL, HTTP feed) normalises it.
 */
export interface LogEvent {
  /** Increasing; gaps are possible (transactions that commit out of order, or roll back). */
  id: number;
  /** The event type, e.g. `Shotgun_Task_Change`. */
  type: string;
  /** What changed, as the log has it (often `{ type, id }`); null when the log has none. */
  entity: unknown;
  /** The attributes that changed (`["sg_status_list"]`); empty when the log names none. */
  attributes: string[];
  /** When the event was written (ISO 8601 UTC), when the log says. */
  createdAt: string | undefined;
  /** Anything else the log keeps (`meta jsonb`); null when it has none. */
  meta: Record<string, unknown> | null;
}

/**
 * Which events a callback takes, as shotgunEvents' `matchEvents`, in any of
 * the shapes its plugins write: an event type (or `'*'` for any type) maps to
 * null (any attribute), one attribute name, or a list of names (`['*']`: any).
 * An event matches when the entry for its type lists `'*'` or one of the
 * event's attributes; a `'*'` entry alone decides for every type (entries
 * beside it are not used). An empty object, like null, takes every event.
 * @example { Shotgun_Task_Change: ['sg_status_list'], Shotgun_Version_New: null, Shotgun_Shot_Change: 'code' }
 */
export type MatchEvents = Readonly<Record<string, readonly string[] | string | null>>;

/** A `match` as the host keeps it, each entry a list of attribute names (`['*']`: any). */
export type MatchFilter = Readonly<Record<string, readonly string[]>>;

/** Options of `reg.registerCallback`. */
export interface CallbackOptions<A = unknown> {
  /** null, undefined and `{}` take every event. @default every event */
  match?: MatchEvents | null;
  /** Handed to the callback as its third argument. @default undefined */
  args?: A;
  /**
   * A failure deactivates the whole plugin (its cursor stays on the event,
   * which is retried after a reload). With false the failure is logged and
   * counted and the plugin goes on to its next callback and event.
   * @default true
   */
  stopOnError?: boolean;
}

/** The ctx a callback gets: the usual worker ctx (log, store, client, signal, ...) plus which plugin and callback run. */
export interface PluginContext extends WorkerContext {
  /** The plugin's name (its file name without the extension). */
  readonly plugin: string;
  /** The callback's registered name. */
  readonly callback: string;
}

/** A callback: `(event, ctx, args)`. Its return value is ignored. */
export type PluginCallback<A = unknown> = (event: LogEvent, ctx: PluginContext, args: A) => unknown;

/**
 * Where a plugin's deactivation is mailed (`[Email]`), as shotgunEvents'
 * `setEmails`: `true`, to `[Email] to`; `false`, not at all; a list, to
 * those addresses instead.
 */
export type PluginEmails = boolean | readonly string[];

/** What `registerCallbacks(reg)` is given. */
export interface PluginRegistrar {
  /** The plugin's name. */
  readonly plugin: string;
  /** A logger for the plugin (registration-time messages). */
  readonly log: Logger;
  /**
   * Registers a callback; callbacks run in registration order. Throws
   * TypeError for a bad name, callback or option, naming the plugin file.
   * @example reg.registerCallback('notify', notify, { match: { Shotgun_Task_Change: ['sg_status_list'] }, stopOnError: false })
   */
  registerCallback<A = unknown>(name: string, callback: PluginCallback<A>, options?: CallbackOptions<A>): void;
  /**
   * Where this plugin's deactivation is mailed, with an `[Email]` section
   * (shotgunEvents' `setEmails`): `true` to `[Email] to` (the default),
   * `false` not at all, or a list of addresses instead. The last call
   * counts, for this load. Throws for anything else, naming the plugin file.
   * @example reg.setEmails(['pipeline@example.com'])
   */
  setEmails(emails: PluginEmails): void;
}

/** A plugin module: it exports `registerCallbacks(reg)`. */
export interface PluginModule {
  registerCallbacks(reg: PluginRegistrar): void | Promise<void>;
}

/** A registered callback, as the host keeps it. */
export interface RegisteredCallback {
  name: string;
  callback: PluginCallback<unknown>;
  /** undefined: every event. */
  match: MatchFilter | undefined;
  args: unknown;
  stopOnError: boolean;
}

/** A plugin's state: the plugin machine's states. */
export type PluginState = 'loading' | 'active' | 'deactivated' | 'reloading' | 'removed';

/** One plugin as the host shows it (`flowd plugins`, the inspector, the event-log source). */
export interface PluginInfo {
  name: string;
  /** The module file, absolute. */
  file: string;
  state: PluginState;
  /** The callbacks of the last successful load, in registration order. */
  callbacks: ReadonlyArray<{ name: string; match: MatchFilter | undefined; stopOnError: boolean }>;
  /** Why it is deactivated (a load error, or a callback's failure). */
  error: { code: string; message: string; eventId?: number; callback?: string } | undefined;
  /** The file's mtime when it was last loaded (ms). */
  mtimeMs: number;
  /** Where its deactivation is mailed (`reg.setEmails` of the last successful load). @default true */
  emails?: PluginEmails | undefined;
}

/** What the host tells its listeners (the event-log source). */
export type PluginChange =
  | { type: 'plugin.added'; name: string }
  | { type: 'plugin.activated'; name: string }
  | { type: 'plugin.deactivated'; name: string; error: { code: string; message: string } }
  | { type: 'plugin.removed'; name: string };

/** How one event went through one plugin's callbacks. */
export interface PluginRunReport {
  /** Callbacks that matched and ran, in order. */
  ran: string[];
  /** Callbacks with stopOnError = false that threw: logged and counted, the plugin went on. */
  failed: Array<{ callback: string; code: string; message: string }>;
}

/**
 * The plugins of an app (`[Plugins] paths`): each an actor (loading,
 * active, deactivated, reloading, removed), reloaded when its file changes.
 * The event-log source asks it which plugins are active and what they match;
 * the plugin runner asks it to run an event through one plugin.
 */
export interface PluginHost {
  /** Scans the folders, loads every plugin, and (with `reload`) starts watching. Resolves once every plugin has left `loading`. */
  start(): Promise<void>;
  /** Every plugin, by name order. */
  list(): PluginInfo[];
  /** One plugin, or undefined. */
  get(name: string): PluginInfo | undefined;
  /** Whether any of the plugin's callbacks matches the event (false when it is not active). */
  matches(name: string, event: LogEvent): boolean;
  /**
   * Runs the event through the plugin's matching callbacks in registration
   * order. A callback with stopOnError that throws rejects with
   * PluginError (code ERR_PLUGIN) naming the plugin, the callback and
   * the event id, with the cause; the remaining callbacks do not run.
   * While the plugin is reloading, the last load's callbacks run; in any
   * other state but active it rejects with PluginError ERR_PLUGIN. An aborted
   * run rejects with the signal's reason (never ERR_PLUGIN).
   */
  run(name: string, event: LogEvent, ctx: WorkerContext): Promise<PluginRunReport>;
  /**
   * Loads a deactivated plugin again, as a change of its file would: it is
   * active once the load succeeds (`plugin.activated`), deactivated with the
   * load error otherwise. For a retry without a restart (`flowd plugins
   * --reactivate`). Returns false, doing nothing, when the plugin is unknown
   * or not deactivated.
   */
  reactivate(name: string): boolean;
  /** Deactivates the plugin (a callback failed for good): its state becomes `deactivated` with this error. Ignored while it reloads (the new code decides). Without `callback`, the host names the stopOnError callback it saw fail on `eventId`. */
  deactivate(name: string, error: { code: string; message: string; eventId?: number; callback?: string; at?: number }): void;
  /**
   * Subscribes to changes; returns the unsubscribe function. `plugin.added`
   * comes once a plugin's first load has ended (so `get(name)` has its state
   * and mtime), right before its first `plugin.activated` or `plugin.deactivated`.
   */
  onChange(listener: (change: PluginChange) => void): () => void;
  /** Stops watching and stops every plugin actor. */
  close(): Promise<void>;
  /** Plugin actors report to this observer (the inspector's), from now on and for those already running. */
  inspect?(observer: ((event: InspectionEvent) => void) | undefined): void;
}
