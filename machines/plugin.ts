import { assign, emit, setup, type DoneActorEvent, type ErrorActorEvent } from 'xstate';
import type { ErrorInfo } from './events.js';
import { promiseNotProvided } from './not-provided.js';

/**
 * One plugin of an event-log app (`[Plugins] paths`): loaded from its
 * module file, active until a callback fails for good, reloaded when its
 * file changes (which also resumes a deactivated plugin), removed with its
 * file.
 *
 * The host provides `load` (imports the module and calls its
 * `registerCallbacks`); the machine decides what a load, a change, a
 * failure or a removal does, and emits facts the host forwards to its
 * listeners.
 */

/** Why a plugin is deactivated: a load error (ERR_PLUGIN_LOAD) or a callback's failure (ERR_PLUGIN). */
export interface PluginErrorInfo extends ErrorInfo {
  /** The event the callback failed on. */
  eventId?: number;
  /** The callback that failed. */
  callback?: string;
}

/**
 * One callback as the machine keeps it. Structural, so machines import
 * nothing from actors/: the host's RegisteredCallback
 * (actors/plugins/plugin-api.ts) fits it and is what the host stores.
 */
export interface PluginCallbackEntry {
  name: string;
  stopOnError: boolean;
}

/** What the `load` actor is given. */
export interface PluginLoadInput {
  name: string;
  /** The module file, absolute. */
  file: string;
  /** Loads so far, this one included (1 for the first). */
  loads: number;
}

/** What the `load` actor resolves with. */
export interface PluginLoadOutput<C extends PluginCallbackEntry = PluginCallbackEntry> {
  /** In registration order. */
  callbacks: C[];
  /** The file's mtime when it was read. */
  mtimeMs: number;
  /** Where its deactivation is mailed (`reg.setEmails`). @default true */
  emails?: boolean | readonly string[] | undefined;
}

/** What a plugin actor starts with. */
export interface PluginInput {
  name: string;
  /** The module file, absolute. */
  file: string;
  /**
   * The plugin was deactivated when the daemon last ran and its file has
   * not changed since: the first load keeps it deactivated with this error
   * (its callbacks still loaded, for `flowd plugins`). @default undefined: active once loaded
   */
  deactivated?: PluginErrorInfo | undefined;
}

/** What a plugin actor remembers. */
export interface PluginMachineContext {
  name: string;
  file: string;
  /** The callbacks of the last successful load, in registration order. */
  callbacks: PluginCallbackEntry[];
  /** Why it is deactivated; undefined while active. */
  error: PluginErrorInfo | undefined;
  /** The file's mtime at the last successful load; 0 before one. */
  mtimeMs: number;
  /** Where its deactivation is mailed, as the last successful load said (`reg.setEmails`); true before one. */
  emails: boolean | readonly string[];
  /** Loads started, the current one included. */
  loads: number;
  /** The file changed while a load was under way: load once more when it ends. */
  reloadPending: boolean;
  /** `input.deactivated`, or a deactivation asked for during the first load; only that load reads it: a reload is a fresh start. */
  deactivatedOnRecord: PluginErrorInfo | undefined;
}

/** The plugin's file changed, or it is reactivated: reload it (a deactivated plugin resumes if the load succeeds). */
export type PluginChanged = { type: 'plugin.changed' };
/** A callback failed for good (stopOnError): deactivate the plugin. */
export type PluginFailed = { type: 'plugin.failed'; error: PluginErrorInfo };
/** The plugin's file is gone. */
export type PluginRemovedCommand = { type: 'plugin.removed' };
/** What a plugin actor hears. */
export type PluginEvent = PluginChanged | PluginFailed | PluginRemovedCommand;

/** `plugin.changed`. */
export const pluginChanged = (): PluginChanged => ({ type: 'plugin.changed' });
/** `plugin.failed`. */
export const pluginFailed = (error: PluginErrorInfo): PluginFailed => ({ type: 'plugin.failed', error });
/** `plugin.removed` (the command; the actor emits a fact of the same name once removed). */
export const pluginRemoved = (): PluginRemovedCommand => ({ type: 'plugin.removed' });

// Facts the actor emits (`actor.on(...)`), for the host to forward.
export type PluginActivatedFact = { type: 'plugin.activated'; name: string };
export type PluginDeactivatedFact = { type: 'plugin.deactivated'; name: string; error: PluginErrorInfo };
export type PluginRemovedFact = { type: 'plugin.removed'; name: string };
/** Every fact a plugin actor emits. */
export type PluginEmitted = PluginActivatedFact | PluginDeactivatedFact | PluginRemovedFact;

type Ctx = { context: PluginMachineContext; event: PluginEvent | DoneActorEvent<PluginLoadOutput> | ErrorActorEvent };

/** The machine of one plugin. */
export const pluginMachine = setup({
  types: {} as { context: PluginMachineContext; events: PluginEvent; input: PluginInput; emitted: PluginEmitted },
  actors: {
    // Typed, and loud when the host forgets it: the plugin ends up deactivated with the message.
    load: promiseNotProvided<PluginLoadOutput, PluginLoadInput>('plugin', 'load'),
  },
  guards: {
    isReloadPending: ({ context }: Ctx) => context.reloadPending,
    isDeactivatedOnRecord: ({ context }: Ctx) => context.deactivatedOnRecord !== undefined,
  },
  actions: {
    startLoad: assign({ loads: ({ context }: Ctx) => context.loads + 1, reloadPending: false }),
    requestReload: assign({ reloadPending: true }),
    assignLoaded: assign(({ event }: Ctx) => {
      const { callbacks, mtimeMs, emails = true } = (event as DoneActorEvent<PluginLoadOutput>).output;
      return { callbacks, mtimeMs, emails };
    }),
    assignLoadError: assign({ error: ({ context, event }: Ctx) => loadErrorOf(context, (event as ErrorActorEvent).error) }),
    assignRecordedError: assign({ error: ({ context }: Ctx) => context.deactivatedOnRecord }),
    assignFailure: assign({ error: ({ event }: Ctx) => (event as PluginFailed).error }),
    recordFailure: assign({ deactivatedOnRecord: ({ event }: Ctx) => (event as PluginFailed).error }),
    clearError: assign({ error: undefined }),
    reportActivated: emit(({ context }: Ctx) => ({ type: 'plugin.activated' as const, name: context.name })),
    reportDeactivated: emit(({ context }: Ctx) => ({
      type: 'plugin.deactivated' as const,
      name: context.name,
      error: context.error ?? { code: 'ERR_PLUGIN', message: `plugin "${context.name}" was deactivated` },
    })),
    reportRemoved: emit(({ context }: Ctx) => ({ type: 'plugin.removed' as const, name: context.name })),
  },
}).createMachine({
  id: 'plugin',
  context: ({ input }) => ({
    name: input.name,
    file: input.file,
    callbacks: [],
    error: undefined,
    mtimeMs: 0,
    emails: true,
    loads: 0,
    reloadPending: false,
    deactivatedOnRecord: input.deactivated,
  }),
  initial: 'loading',
  on: { 'plugin.removed': '.removed' },
  states: {
    loading: {
      description:
        'The first load: importing the module and calling its registerCallbacks. A change meanwhile loads it again once this load ends; a deactivation asked for meanwhile (from a record) holds once it is loaded.',
      entry: 'startLoad',
      invoke: {
        src: 'load',
        input: ({ context }) => ({ name: context.name, file: context.file, loads: context.loads }),
        onDone: [
          { guard: 'isReloadPending', target: 'reloading', actions: 'assignLoaded' },
          { guard: 'isDeactivatedOnRecord', target: 'deactivated', actions: ['assignLoaded', 'assignRecordedError'] },
          { target: 'active', actions: ['assignLoaded', 'clearError'] },
        ],
        onError: [
          { guard: 'isReloadPending', target: 'reloading', actions: 'assignLoadError' },
          { target: 'deactivated', actions: 'assignLoadError' },
        ],
      },
      on: {
        'plugin.changed': { actions: 'requestReload' },
        'plugin.failed': { actions: 'recordFailure' },
      },
    },
    active: {
      description: 'Loaded: its callbacks take the events they match.',
      entry: 'reportActivated',
      on: {
        'plugin.changed': 'reloading',
        'plugin.failed': { target: 'deactivated', actions: 'assignFailure' },
      },
    },
    deactivated: {
      description:
        'A load failed or a callback failed for good: no event reaches it until it loads again, when its file changes or it is reactivated (both send plugin.changed).',
      entry: 'reportDeactivated',
      on: { 'plugin.changed': 'reloading' },
    },
    reloading: {
      description:
        'Its file changed: loading the module again. Success makes it active (a deactivated plugin resumes); failure deactivates it. A change meanwhile loads it once more; a callback failure reported meanwhile is dropped, since the new code decides.',
      entry: 'startLoad',
      invoke: {
        src: 'load',
        input: ({ context }) => ({ name: context.name, file: context.file, loads: context.loads }),
        onDone: [
          { guard: 'isReloadPending', target: 'reloading', reenter: true, actions: 'assignLoaded' },
          { target: 'active', actions: ['assignLoaded', 'clearError'] },
        ],
        onError: [
          { guard: 'isReloadPending', target: 'reloading', reenter: true, actions: 'assignLoadError' },
          { target: 'deactivated', actions: 'assignLoadError' },
        ],
      },
      on: { 'plugin.changed': { actions: 'requestReload' } },
    },
    removed: {
      description: 'Its file is gone: the host stops the actor.',
      type: 'final',
      entry: 'reportRemoved',
    },
  },
});

/** A load failure as ERR_PLUGIN_LOAD; the loader's own message (which names the file) is kept. */
function loadErrorOf(context: PluginMachineContext, raw: unknown): PluginErrorInfo {
  const code = (raw as { code?: unknown } | undefined)?.code;
  const message = raw instanceof Error ? raw.message : String(raw);
  if (code === 'ERR_PLUGIN_LOAD') return { code, message };
  return { code: 'ERR_PLUGIN_LOAD', message: `plugin "${context.name}" could not be loaded from ${context.file}: ${message}` };
}
