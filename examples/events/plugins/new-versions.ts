import type { LogEvent, PluginContext, PluginRegistrar } from 'flowd';

/** Counts new versions in the app's store, and prints each one. */
export function registerCallbacks(reg: PluginRegistrar): void {
  reg.registerCallback('countVersion', countVersion, { match: { Shotgun_Version_New: ['*'] } });
}

async function countVersion(event: LogEvent, ctx: PluginContext): Promise<void> {
  const entity = event.entity as { id: number } | null;
  const { value: count } = await ctx.store.update<number>('versions', (n = 0) => n + 1, { signal: ctx.signal });
  console.log(`version ${entity?.id} is new (${count} so far, event ${event.id})`);
}
