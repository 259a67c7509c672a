import type { Logger } from 'pino';
import type { LockHandle, LockOptions, WithLockOptions } from '../locks/lock-api.js';
import type { Store } from '../stores/store-api.js';
import type { AppInfo, AppSections, WorkerContext } from '../workers/worker.js';
import type { PluginContext } from './plugin-api.js';

/**
 * A callback's ctx: the run's ctx, read through (its signal, store and
 * client are the run's own, made when first asked for), plus the plugin,
 * the callback and a child logger naming both.
 */
export class PluginRunContext implements PluginContext {
  private childLog: Logger | undefined;

  constructor(
    private readonly ctx: WorkerContext,
    readonly plugin: string,
    readonly callback: string,
  ) {}

  get log(): Logger {
    return (this.childLog ??= this.ctx.log.child({ plugin: this.plugin, callback: this.callback }));
  }
  get signal(): AbortSignal {
    return this.ctx.signal;
  }
  get attempt(): number {
    return this.ctx.attempt;
  }
  get id(): string {
    return this.ctx.id;
  }
  get meta(): Readonly<Record<string, unknown>> {
    return this.ctx.meta;
  }
  get app(): AppInfo {
    return this.ctx.app;
  }
  get config(): AppSections {
    return this.ctx.config;
  }
  get store(): Store {
    return this.ctx.store;
  }
  get client(): WorkerContext['client'] {
    return this.ctx.client;
  }
  lock(key: string, options?: LockOptions): Promise<LockHandle> {
    return this.ctx.lock(key, options);
  }
  withLock<T>(key: string, fn: (lock: LockHandle) => T | Promise<T>, options?: WithLockOptions): Promise<T> {
    return this.ctx.withLock(key, fn, options);
  }
  publish(destination: string, body: string | Uint8Array | object, headers?: Record<string, string | number | boolean>): Promise<void> {
    return this.ctx.publish(destination, body, headers);
  }
}
