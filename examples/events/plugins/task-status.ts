import type { LogEvent, PluginContext, PluginRegistrar } from 'flowd';

/** Prints each change of a task's status. */
export function registerCallbacks(reg: PluginRegistrar): void {
  reg.registerCallback('onStatusChange', onStatusChange, {
    match: { Shotgun_Task_Change: ['sg_status_list'] },
    args: { prefix: 'task' },
  });
}

function onStatusChange(event: LogEvent, ctx: PluginContext, args: { prefix: string }): void {
  const entity = event.entity as { id: number } | null;
  const status = (event.meta as { new_value?: string } | null)?.new_value ?? '?';
  ctx.log.info({ task: entity?.id, status }, 'status changed');
  console.log(`${args.prefix} ${entity?.id}: status is now ${status} (event ${event.id})`);
}
