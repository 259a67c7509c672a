import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { LogEvent, PluginChange, PluginHost, PluginInfo, PluginRunReport } from '../../actors/plugins/plugin-api.js';
import type { EventLogReader } from '../../actors/sources/event-log-reader.js';
import { eventLogDriver, type EventLogOptions } from '../../actors/sources/event-log.js';
import type { WorkerContext } from '../../actors/workers/worker.js';
import { createAppServices, type AppServices } from '../../src/runtime/app-services.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { defineWorker } from '../../actors/workers/worker.js';

/** A log event for tests: `type` defaults to `Shotgun_Task_Change`. */
export const logEvent = (id: number, type = 'Shotgun_Task_Change', attributes: string[] = ['sg_status_list']): LogEvent => ({
  id,
  type,
  entity: { type: 'Task', id: id * 10 },
  attributes,
  createdAt: undefined,
  meta: null,
});

/** An event log in memory, as a reader sees it; `fail` makes every call reject with it (a database that went away). */
export function memoryLog(events: LogEvent[] = []): EventLogReader & { events: LogEvent[]; fail: Error | undefined; reads: number } {
  const ids = () => events.map((e) => e.id);
  const check = async (signal?: AbortSignal) => {
    signal?.throwIfAborted();
    if (log.fail) throw log.fail;
  };
  const log = {
    events,
    fail: undefined as Error | undefined,
    reads: 0,
    displayUrl: 'memory://log',
    connect: () => check(),
    latestId: async (signal?: AbortSignal) => (await check(signal), Math.max(0, ...ids())),
    earliestId: async (signal?: AbortSignal) => (await check(signal), events.length === 0 ? 0 : Math.min(...ids()) - 1),
    read: async (after: number, limit: number, signal?: AbortSignal) => {
      await check(signal);
      log.reads++;
      return events
        .filter((e) => e.id > after)
        .sort((a, b) => a.id - b.id)
        .slice(0, limit);
    },
    close: async () => {},
  };
  return log;
}

type StubPlugin = { wants?: (event: LogEvent) => boolean; run: (event: LogEvent, ctx: WorkerContext) => unknown };

/**
 * A plugin host in memory for the source's unit tests: plugins are
 * functions; `activate(name)` plays a reload that fixed the plugin.
 */
export function stubHost(
  plugins: Record<string, StubPlugin>,
): PluginHost & { activate(name: string): void; add(name: string, plugin: StubPlugin): void; reactivated: string[] } {
  const states = new Map<string, PluginInfo>();
  const listeners = new Set<(change: PluginChange) => void>();
  const tell = (change: PluginChange) => listeners.forEach((listener) => listener(change));
  const info = (name: string): PluginInfo => ({
    name,
    file: `/plugins/${name}.mjs`,
    state: 'active',
    callbacks: [{ name: 'run', match: undefined, stopOnError: true }],
    error: undefined,
    mtimeMs: 0,
  });
  for (const name of Object.keys(plugins)) states.set(name, info(name));
  const stub: ReturnType<typeof stubHost> = {
    /** The plugins `reactivate` loaded again, in order. */
    reactivated: [],
    start: async () => {},
    list: () => [...states.values()],
    get: (name) => states.get(name),
    matches: (name, event) => states.get(name)?.state === 'active' && (plugins[name]!.wants?.(event) ?? true),
    async run(name, event, ctx): Promise<PluginRunReport> {
      await plugins[name]!.run(event, ctx);
      return { ran: ['run'], failed: [] };
    },
    deactivate(name, error) {
      const current = states.get(name);
      if (!current) return;
      states.set(name, { ...current, state: 'deactivated', error });
      tell({ type: 'plugin.deactivated', name, error });
    },
    reactivate(name) {
      if (states.get(name)?.state !== 'deactivated') return false;
      stub.reactivated.push(name);
      stub.activate(name);
      return true;
    },
    activate(name) {
      states.set(name, { ...states.get(name)!, state: 'active', error: undefined, mtimeMs: Date.now() + 1 });
      tell({ type: 'plugin.activated', name });
    },
    add(name, plugin) {
      plugins[name] = plugin;
      states.set(name, info(name));
      tell({ type: 'plugin.added', name });
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close: async () => {},
  };
  return stub;
}

/** A folder for a test's file store. */
export const storeFolder = () => mkdtempSync(path.join(tmpdir(), 'flowd-event-log-'));

/** The source options the tests start from. */
export const EVENT_LOG_OPTIONS: EventLogOptions = {
  reader: { kind: 'http', url: 'memory://log?after={id}', latestUrl: undefined, timeoutMs: 1000 },
  fetchIntervalMs: 20,
  maxBatchSize: 50,
  backlogTimeoutMs: 300_000,
  startFrom: 'earliest',
  lockKey: 'event-log/reader',
};

/**
 * A runtime whose source is an event-log driver over `reader`, with the
 * stub host's plugins as its workers and a file store in `folder`.
 */
export function eventLogRuntime(options: {
  reader: EventLogReader;
  host: PluginHost;
  folder: string;
  source?: Partial<EventLogOptions>;
  now?: () => number;
  logger?: Logger;
  workers?: number;
  services?: AppServices;
}): { runtime: Runtime; services: AppServices } {
  const logger = options.logger ?? pino({ level: 'silent' });
  const services =
    options.services ??
    createAppServices(
      { store: { backend: 'file', folder: options.folder }, lock: { backend: 'local', leaseMs: 60_000 }, api: undefined },
      'events',
      logger,
    );
  const driver = eventLogDriver(
    { ...EVENT_LOG_OPTIONS, ...options.source },
    {
      log: logger,
      store: services.store,
      locks: services.locks,
      leaseMs: 60_000,
      plugins: options.host,
      reader: options.reader,
      ...(options.now ? { now: options.now } : {}),
    },
  );
  const runtime = createRuntime({
    worker: defineWorker({
      configure: () => options.host.start(),
      start: (event, ctx) => options.host.run(String(ctx.meta.plugin), event as LogEvent, ctx),
    }),
    source: driver,
    workers: options.workers ?? 4,
    logger,
    app: { name: 'events', dir: options.folder },
    store: { backend: 'file', folder: options.folder },
  });
  return { runtime, services };
}
