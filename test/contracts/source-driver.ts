import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Feed, SourceDriver } from '../../actors/sources/driver.js';
import type { ErrorInfo, Settlement } from '../../machines/events.js';

/** What a source kind does under backpressure, and which points of the contract apply to it. */
export interface SourceCapabilities {
  /**
   * `holds`: events that come while paused are kept and delivered on resume (a broker's prefetch, a folder, a stream);
   * `refuses`: the world is told to come back later (an HTTP 503); `skips`: events due while paused are dropped (ticks).
   */
  backpressure: 'holds' | 'refuses' | 'skips';
  /** The driver takes each event's outcome and tells the world (an ACK or NACK, a reply, a moved file, a cursor). */
  settles: boolean;
  /** The source holds a connection it can lose: waiting events are revoked, the loss is reported, and it connects again. */
  reconnects: boolean;
}

/** One delivery the driver made, as the feed saw it. */
export interface Delivered {
  id: string;
  payload: unknown;
  meta: Record<string, unknown> | undefined;
  error: ErrorInfo | undefined;
  /** The bytes the driver read it from, when it kept them (a STOMP body). */
  raw: Uint8Array | undefined;
}

/** A feed that records what the driver calls, and lets a test await it. */
export interface RecordingFeed {
  feed: Feed;
  deliveries: Delivered[];
  revoked: Array<{ ids: string[]; error: ErrorInfo }>;
  lost: Array<ErrorInfo & { retryable?: boolean }>;
  /** Resolves once `count` deliveries were made. */
  delivered(count: number): Promise<Delivered[]>;
  /** Resolves once the driver reported its connection lost. */
  connectionLost(): Promise<void>;
}

/** A feed to hand a driver's `start`: it records deliveries, revocations and losses (the source machine's part). */
export function recordingFeed(): RecordingFeed {
  const waiters = new Set<() => void>();
  const wake = () => [...waiters].forEach((waiter) => waiter());
  const until = <T>(done: () => T | undefined): Promise<T> =>
    new Promise((resolve) => {
      const check = () => {
        const value = done();
        if (value === undefined) return;
        waiters.delete(check);
        resolve(value);
      };
      waiters.add(check);
      check();
    });
  const recorder: RecordingFeed = {
    deliveries: [],
    revoked: [],
    lost: [],
    feed: {
      deliver(payload, options = {}) {
        recorder.deliveries.push({
          id: options.id ?? String(recorder.deliveries.length + 1),
          payload,
          meta: options.meta,
          error: options.error,
          raw: options.raw,
        });
        wake();
      },
      end: () => wake(),
      lost(error) {
        recorder.lost.push(error);
        wake();
      },
      revoke(ids, error) {
        recorder.revoked.push({ ids, error });
        wake();
      },
    },
    delivered: (count) => until(() => (recorder.deliveries.length >= count ? recorder.deliveries.slice(0, count) : undefined)),
    connectionLost: () => until(() => (recorder.lost.length > 0 ? true : undefined)).then(() => undefined),
  };
  return recorder;
}

/** A driver of one kind, with the world around it played by the test (a scripted broker, a folder, a stream, a port, a clock). */
export interface SourceScript {
  driver: SourceDriver;
  /**
   * The world offers one event. Resolves once the driver has it in hand (delivered, held, or skipped) or, for a
   * world that keeps it until read (a folder, a log), once it is there; `refused` when the world was told to come back later.
   */
  offer(): Promise<'taken' | 'refused'>;
  /**
   * What the world learnt after `settle` for a delivered event: `accepted` (acknowledged, answered, moved to done, the
   * cursor past it), or `rejected` (not acknowledged: it will come again). Kinds that settle only.
   */
  outcome?(delivered: Delivered, feed: RecordingFeed): Promise<'accepted' | 'rejected'>;
  /** The connection goes away (a socket reset, a database gone). Kinds that reconnect only. */
  breakConnection?(): Promise<void>;
  /** The world can be reached again after `breakConnection`. */
  restore?(): void;
  /** Whether the world can still reach the source (a socket open, a port listening); kinds without a connection leave it out. */
  reachable?(): Promise<boolean>;
  /** Releases what the script made (after the driver was disconnected). */
  dispose(): Promise<void>;
}

/** One source kind under the contract. */
export interface SourceKindUnderTest {
  /** The `[Source] type`. */
  type: string;
  capabilities: SourceCapabilities;
  /** Whether the compiled `[Source]` carries reconnect delays: checks `capabilities.reconnects` against the compile step. */
  compiledReconnect(): boolean | Promise<boolean>;
  make(): Promise<SourceScript>;
}

const settlement = (delivered: Delivered, outcome: 'completed' | 'returned'): Settlement => ({
  id: delivered.id,
  outcome,
  ack: outcome === 'completed',
  attempts: 1,
  deadLetter: false,
  ...(delivered.meta ? { meta: delivered.meta } : {}),
  ...(outcome === 'returned' ? { error: { code: 'ERR_SHUTDOWN', message: 'returned' } } : {}),
});

/**
 * The contract every source driver meets: connect, deliver, pause and
 * resume, settle, revoke and reconnect, stop. Run it once per kind; where a
 * point does not apply, the kind's capabilities say so and the test checks
 * that the driver has no such surface.
 */
export function sourceDriverContract(kind: SourceKindUnderTest): void {
  const { type, capabilities } = kind;
  describe(`the ${type} source driver`, () => {
    let script: SourceScript;
    let driver: SourceDriver;
    let disconnected = false;
    beforeEach(async () => {
      script = await kind.make();
      driver = script.driver;
      disconnected = false;
    });
    afterEach(async () => {
      driver.stop?.();
      if (!disconnected) await driver.disconnect?.();
      await script.dispose();
    });

    const started = async () => {
      const recorder = recordingFeed();
      await driver.connect?.();
      driver.start(recorder.feed);
      // A kind that fires on start (interval) has made its first delivery already: the contract counts from here.
      recorder.deliveries.splice(0);
      return recorder;
    };

    it(`is named by its [Source] type (${type}) and connects`, async () => {
      expect(driver.type).toBe(type);
      await started();
      if (script.reachable) expect(await script.reachable()).toBe(true);
    });

    it('delivers what the world offers, each event with an id of its own', async () => {
      const recorder = await started();
      expect(await script.offer()).toBe('taken');
      const [first] = await recorder.delivered(1);
      // Some kinds hand over one event at a time per consumer (an event-log plugin): the first is settled before the next.
      driver.settle?.(settlement(first!, 'completed'));
      expect(await script.offer()).toBe('taken');
      const second = (await recorder.delivered(2))[1]!;
      expect(second.id).not.toBe(first!.id);
      expect(recorder.lost).toEqual([]);
    });

    it(`under backpressure ${capabilities.backpressure} what comes while paused, and delivers again once resumed`, async () => {
      const recorder = await started();
      expect(driver.pause).toBeTypeOf('function');
      driver.pause!();
      const answer = await script.offer();
      expect(answer).toBe(capabilities.backpressure === 'refuses' ? 'refused' : 'taken');
      expect(recorder.deliveries).toEqual([]);
      driver.resume!();
      if (capabilities.backpressure === 'holds') {
        await recorder.delivered(1);
      } else {
        expect(await script.offer()).toBe('taken');
        await recorder.delivered(1);
      }
      expect(recorder.deliveries).toHaveLength(1);
    });

    if (capabilities.settles) {
      it('tells the world each outcome: a completed event is accepted, a returned one is not', async () => {
        const recorder = await started();
        await script.offer();
        const [done] = await recorder.delivered(1);
        driver.settle!(settlement(done!, 'completed'));
        expect(await script.outcome!(done!, recorder)).toBe('accepted');
        await script.offer();
        const back = (await recorder.delivered(2))[1]!;
        driver.settle!(settlement(back, 'returned'));
        expect(await script.outcome!(back, recorder)).toBe('rejected');
      });
      it('takes any result a worker can return without throwing, and goes on delivering (property)', async () => {
        const recorder = await started();
        const cyclic = (): unknown => {
          const node: Record<string, unknown> = {};
          node.self = node;
          return node;
        };
        let deep: unknown = [];
        for (let i = 0; i < 300_000; i++) deep = [deep];
        const results = fc.oneof(
          fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }),
          fc.constantFrom(cyclic(), deep, () => 1, Symbol('s'), 10n),
          fc.record({
            status: fc.oneof(fc.integer({ min: -5, max: 2000 }), fc.double()),
            headers: fc.dictionary(fc.string(), fc.anything()),
            body: fc.anything({ withBigInt: true }),
          }),
        );
        await fc.assert(
          fc.asyncProperty(results, async (result) => {
            const before = recorder.deliveries.length;
            expect(await script.offer()).toBe('taken');
            const delivered = (await recorder.delivered(before + 1))[before]!;
            expect(() => driver.settle!({ ...settlement(delivered, 'completed'), result })).not.toThrow();
          }),
          { numRuns: 25 },
        );
      });
    } else {
      it('takes no outcomes: its events need no acknowledgement', async () => {
        expect(driver.settle).toBeUndefined();
        expect(script.outcome).toBeUndefined();
      });
    }

    if (capabilities.reconnects) {
      it('revokes waiting events when its connection is lost, reports the loss as retryable, and connects again', async () => {
        const recorder = await started();
        await script.offer();
        const [waiting] = await recorder.delivered(1);
        await script.breakConnection!();
        await recorder.connectionLost();
        script.restore?.();
        expect(recorder.revoked.flatMap((entry) => entry.ids)).toEqual([waiting!.id]);
        expect(recorder.lost[0]).toMatchObject({ retryable: true });
        expect(recorder.lost[0]!.code).toMatch(/^ERR_/);
        // The source machine stops the feed, then connects again after its backoff.
        driver.stop?.();
        const again = await started();
        expect(await script.offer()).toBe('taken');
        const [fresh] = await again.delivered(1);
        // An outcome of the lost connection is void: it changes nothing the world sees.
        driver.settle?.(settlement(waiting!, 'completed'));
        if (script.outcome && capabilities.settles) {
          driver.settle!(settlement(fresh!, 'completed'));
          expect(await script.outcome(fresh!, again)).toBe('accepted');
        }
        expect(await kind.compiledReconnect()).toBe(true);
      });
    } else {
      it('has no connection to lose: it reports no loss and its compiled source carries no reconnect delays', async () => {
        const recorder = await started();
        expect(script.breakConnection).toBeUndefined();
        expect(await script.offer()).toBe('taken');
        await recorder.delivered(1);
        expect(recorder.lost).toEqual([]);
        expect(recorder.revoked).toEqual([]);
        expect(await kind.compiledReconnect()).toBe(false);
      });
    }

    it('delivers nothing once stopped, and lets go of the world on disconnect', async () => {
      const recorder = await started();
      driver.stop?.();
      await script.offer();
      expect(recorder.deliveries).toEqual([]);
      await driver.disconnect?.();
      disconnected = true;
      if (script.reachable) expect(await script.reachable()).toBe(false);
    });
  });
}
