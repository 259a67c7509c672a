import type { Runner } from '../workers/worker.js';
import type { LogEvent, PluginHost } from './plugin-api.js';

/**
 * The worker of an app with `[Plugins]`: configure() loads the plugins; each
 * event (one event for one plugin, as the event-log source delivers it,
 * with the plugin's name in `ctx.meta.plugin`) runs through that plugin's
 * matching callbacks.
 */
export function pluginRunner(host: PluginHost): Runner {
  return {
    name: 'plugins',
    source: undefined,
    configure: async () => {
      await host.start();
    },
    run: (event, ctx) => host.run(String(ctx.meta.plugin), event as LogEvent, ctx),
  };
}
