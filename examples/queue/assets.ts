import { defineWorker, type StompEvent } from 'flowd';

interface Asset {
  title: string;
}

/**
 * Registers an asset and announces it on /queue/flowd-example.registered.
 * At-least-once: the same message can arrive twice, so the work is keyed on
 * the producer's asset-id header, never on the broker's message id.
 */
export default defineWorker({
  async start(event: StompEvent<Asset>, ctx) {
    const id = event.headers['asset-id'];
    if (!id) throw Object.assign(new Error('the message has no asset-id header'), { code: 'ERR_NO_ASSET_ID' });
    console.log(`asset ${id}: ${event.body.title}${event.redelivered ? ' (redelivered)' : ''}`);
    await ctx.publish('/queue/flowd-example.registered', { id, title: event.body.title });
  },
});
