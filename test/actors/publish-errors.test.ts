import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createActor, waitFor } from 'xstate';
import { stompDriver, type StompOptions } from '../../actors/sources/stomp.js';
import { parseStompUrl } from '../../actors/sources/stomp-url.js';
import { createSlotLogic } from '../../actors/workers/slot.js';
import type { Runner, WorkerContext } from '../../actors/workers/worker.js';
import { eventAssigned } from '../../machines/events.js';
import { FlowdError } from '../../src/kernel/errors.js';

// ctx.publish's errors, without a broker: each is a FlowdError with the code docs/errors.md gives it.

const options: StompOptions = {
  ...parseStompUrl('stomp://guest:guest@localhost:61613/queue/assets'),
  virtualHost: undefined,
  heartbeatMs: 0,
  prefetch: 1,
  payloadClass: 'text',
  deadLetter: '/queue/assets.dlq',
  connectTimeoutMs: 1000,
  receiptTimeoutMs: 1000,
};

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a rejection'),
    (error: unknown) => error,
  );
}

describe("ctx.publish's errors", () => {
  it('rejects a destination that is not a STOMP destination with ERR_INVALID_DESTINATION', async () => {
    const error = await failureOf(stompDriver(options).publish('assets', 'body'));
    expect(error).toBeInstanceOf(FlowdError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_DESTINATION', message: expect.stringContaining('cannot publish to "assets"') });
  });

  it('rejects a publish while not connected with ERR_NOT_CONNECTED', async () => {
    const error = await failureOf(stompDriver(options).publish('/queue/renders', { id: 1 }));
    expect(error).toBeInstanceOf(FlowdError);
    expect(error).toMatchObject({
      code: 'ERR_NOT_CONNECTED',
      message: 'cannot publish to /queue/renders: not connected to stomp://guest@localhost:61613/queue/assets',
    });
  });

  it('rejects ctx.publish with a source that cannot publish with ERR_NO_PUBLISH', async () => {
    let ctx: WorkerContext | undefined;
    const runner: Runner = {
      name: 'test',
      source: undefined,
      configure: async () => {},
      run: (_event, context) => {
        ctx = context;
        return new Promise(() => {});
      },
    };
    const log = pino({ level: 'silent' });
    const slot = createActor(createSlotLogic({ runner, log, app: { name: 'a', dir: '/a', stateDir: '/a/state' }, config: {} }), {
      input: { slotId: 'slot-0' },
    }).start();
    slot.send(eventAssigned({ seq: 1, delivery: { id: 'e1', payload: 1 }, attempt: 1, startedAt: 0 }));
    await waitFor(slot, () => ctx !== undefined);
    const error = await failureOf(ctx!.publish('/queue/renders', 'body'));
    expect(error).toBeInstanceOf(FlowdError);
    expect(error).toMatchObject({ code: 'ERR_NO_PUBLISH' });
    expect(() => ctx!.store).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() => ctx!.store).toThrow(FlowdError);
    slot.stop();
  });
});
