import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from 'xstate';
import type { OpenedStore } from '../../actors/stores/store.js';
import { ConflictError, FencedError, FlowdError, StoreError } from '../../src/kernel/errors.js';

/**
 * One place where a backend keeps records: every `open()` on it sees the
 * same data (two daemons sharing a folder or a Redis prefix).
 */
export interface StoreSpace {
  /** Opens a store on this space (not awaited: operations must wait for it). */
  open(): OpenedStore;
  /** Damages the record of `key` the way a disk or a hand edit might; returns what the error must name (a file, a Redis key). */
  corrupt(key: string): Promise<string>;
  /** Takes the backend away and brings it back, for backends that can lose their connection. */
  outage?: { down(): Promise<void>; up(): Promise<void> };
  /** Closes what it opened and removes every record. */
  dispose(): Promise<void>;
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the promise to reject, but it resolved');
}

class Celsius {
  constructor(readonly degrees: number) {}
}

/**
 * The contract every store backend meets: run it once per backend.
 * `canLoseConnection` adds the outage case (the space must provide `outage`).
 */
export function storeContract(
  name: string,
  makeSpace: () => Promise<StoreSpace>,
  { canLoseConnection }: { canLoseConnection: boolean },
): void {
  describe(`the ${name} store`, () => {
    let space: StoreSpace;
    let opened: OpenedStore;
    beforeEach(async () => {
      space = await makeSpace();
      opened = space.open();
    });
    afterEach(async () => {
      await opened.close();
      await space.dispose();
    });

    it('answers undefined and version 0 for a key that was never written, waiting for the backend to open', async () => {
      expect(opened.actor.getSnapshot().value).toBe('opening');
      await expect(opened.store.get('nothing')).resolves.toBeUndefined();
      await expect(opened.store.getVersioned('nothing')).resolves.toEqual({ value: undefined, version: 0 });
      await expect(opened.ready).resolves.toBeUndefined();
    });

    it('gives back every kind of JSON value it was given, to another store on the same space too', async () => {
      const values = [{ a: [1, 'two', { three: null }], b: true }, 'héllo ✓', 0, -1.5, false, null, [], {}, '', [[[]]]];
      for (const [i, value] of values.entries()) await opened.store.put(`value-${i}`, value);
      const other = space.open();
      try {
        for (const [i, value] of values.entries()) await expect(other.store.get(`value-${i}`)).resolves.toEqual(value);
      } finally {
        await other.close();
      }
    });

    it('keeps keys apart however they are spelled: slashes, dots, traversal, case, unicode, escapes and very long keys', async () => {
      const keys = [
        'a/b',
        'a~2fb',
        'a%2Fb',
        '../../etc/passwd',
        '.',
        '..',
        'K',
        'k',
        'ключ',
        '🔑',
        'a.json.lock',
        'x'.repeat(1000),
        `${'x'.repeat(999)}y`,
        ' ',
        'tab\tkey',
        'nul\0key',
      ];
      for (const [i, key] of keys.entries()) await opened.store.put(key, i);
      for (const [i, key] of keys.entries()) await expect(opened.store.get(key)).resolves.toBe(i);
    });

    it('refuses an empty key with ERR_INVALID_ARGUMENT', async () => {
      await expect(opened.store.put('', 1)).rejects.toThrow(FlowdError);
      await expect(opened.store.put('', 1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(opened.store.get('')).rejects.toThrow(/non-empty string/);
    });

    it('returns a greater version on every write of a key', async () => {
      const first = await opened.store.put('counter', 1);
      const second = await opened.store.put('counter', 2);
      expect(first).toEqual({ value: 1, version: expect.any(Number) as number });
      expect(first.version).toBeGreaterThan(0);
      expect(second.version).toBeGreaterThan(first.version);
      await expect(opened.store.getVersioned('counter')).resolves.toEqual({ value: 2, version: second.version });
    });

    it('deletes a value, telling whether there was one', async () => {
      await opened.store.put('doomed', 'x');
      await expect(opened.store.delete('doomed')).resolves.toBe(true);
      await expect(opened.store.getVersioned('doomed')).resolves.toEqual({ value: undefined, version: 0 });
      await expect(opened.store.delete('doomed')).resolves.toBe(false);
      await expect(opened.store.delete('never-written')).resolves.toBe(false);
    });

    it('writes with ifVersion only when nobody wrote since, and otherwise throws ERR_CONFLICT leaving the value alone', async () => {
      const { version } = await opened.store.put('doc', 'mine');
      await opened.store.put('doc', 'theirs');
      const error = await rejection(opened.store.put('doc', 'stale', { ifVersion: version }));
      expect(error).toBeInstanceOf(ConflictError);
      expect(error.code).toBe('ERR_CONFLICT');
      expect(error.message).toContain('"doc"');
      await expect(opened.store.get('doc')).resolves.toBe('theirs');
      const current = await opened.store.getVersioned('doc');
      await expect(opened.store.put('doc', 'fresh', { ifVersion: current.version })).resolves.toMatchObject({ value: 'fresh' });
    });

    it('treats ifVersion 0 as "only if absent", for put and delete', async () => {
      await expect(opened.store.put('once', 1, { ifVersion: 0 })).resolves.toMatchObject({ value: 1 });
      await expect(opened.store.put('once', 2, { ifVersion: 0 })).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
      await expect(opened.store.delete('once', { ifVersion: 0 })).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
      await expect(opened.store.delete('absent', { ifVersion: 0 })).resolves.toBe(false);
      await opened.store.delete('once');
      await expect(opened.store.put('once', 3, { ifVersion: 0 })).resolves.toMatchObject({ value: 3 });
    });

    it('deletes with ifVersion only at that version', async () => {
      const { version } = await opened.store.put('doc', 1);
      await opened.store.put('doc', 2);
      await expect(opened.store.delete('doc', { ifVersion: version })).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
      await expect(opened.store.get('doc')).resolves.toBe(2);
      const current = await opened.store.getVersioned('doc');
      await expect(opened.store.delete('doc', { ifVersion: current.version })).resolves.toBe(true);
    });

    it('never hands out a version again after a delete, so a writer holding an old one still conflicts (no ABA)', async () => {
      const old = await opened.store.put('aba', 'A');
      await opened.store.delete('aba');
      const again = await opened.store.put('aba', 'A again');
      expect(again.version).not.toBe(old.version);
      await expect(opened.store.put('aba', 'stale', { ifVersion: old.version })).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
      await expect(opened.store.delete('aba', { ifVersion: old.version })).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
      await expect(opened.store.get('aba')).resolves.toBe('A again');
    });

    it('refuses a fencing token older than one it accepted, even after unfenced writes and a delete', async () => {
      await opened.store.put('fenced', 'holder 5', { fence: 5 });
      await opened.store.put('fenced', 'holder 5 again', { fence: 5 });
      const error = await rejection(opened.store.put('fenced', 'lapsed holder 4', { fence: 4 }));
      expect(error).toBeInstanceOf(FencedError);
      expect(error.code).toBe('ERR_FENCED');
      expect(error.message).toMatch(/"fenced".*5.*4/);
      await opened.store.put('fenced', 'holder 7', { fence: 7 });
      await opened.store.put('fenced', 'no fence');
      await expect(opened.store.put('fenced', 'lapsed holder 6', { fence: 6 })).rejects.toMatchObject({ code: 'ERR_FENCED' });
      await opened.store.delete('fenced');
      await expect(opened.store.put('fenced', 'lapsed holder 6', { fence: 6 })).rejects.toMatchObject({ code: 'ERR_FENCED' });
      await expect(opened.store.get('fenced')).resolves.toBeUndefined();
      await expect(opened.store.put('fenced', 'holder 8', { fence: 8 })).resolves.toMatchObject({ value: 'holder 8' });
    });

    it('checks the fence before the version: a lapsed holder is told it was fenced, not to retry', async () => {
      const { version } = await opened.store.put('both', 1, { fence: 3 });
      await opened.store.put('both', 2, { fence: 4 });
      await expect(opened.store.put('both', 3, { ifVersion: version, fence: 3 })).rejects.toMatchObject({ code: 'ERR_FENCED' });
    });

    it('refuses a fenced delete with an older token and keeps the value, and deletes with the current or a newer one', async () => {
      await opened.store.put('leased', 'holder 5', { fence: 5 });
      const error = await rejection(opened.store.delete('leased', { fence: 4 }));
      expect(error).toBeInstanceOf(FencedError);
      expect(error.code).toBe('ERR_FENCED');
      expect(error.message).toMatch(/"leased".*5.*delete.*4/);
      await expect(opened.store.get('leased')).resolves.toBe('holder 5');
      await expect(opened.store.delete('leased', { fence: 5 })).resolves.toBe(true);
      await expect(opened.store.get('leased')).resolves.toBeUndefined();
      await opened.store.put('leased', 'holder 5 again', { fence: 5 });
      await expect(opened.store.delete('leased', { fence: 6 })).resolves.toBe(true);
    });

    it('keeps the highest fencing token through a fenced delete, so a lapsed holder can neither write nor delete after it', async () => {
      await opened.store.put('handover', 'holder 3', { fence: 3 });
      await opened.store.delete('handover', { fence: 4 });
      await expect(opened.store.put('handover', 'lapsed holder 3', { fence: 3 })).rejects.toMatchObject({ code: 'ERR_FENCED' });
      await expect(opened.store.delete('handover', { fence: 3 })).rejects.toMatchObject({ code: 'ERR_FENCED' });
      await expect(opened.store.get('handover')).resolves.toBeUndefined();
      await expect(opened.store.put('handover', 'holder 4', { fence: 4 })).resolves.toMatchObject({ value: 'holder 4' });
    });

    it('remembers the token of a fenced delete of a key that has no value, and still answers false', async () => {
      await expect(opened.store.delete('empty-handed', { fence: 9 })).resolves.toBe(false);
      await expect(opened.store.put('empty-handed', 'lapsed holder 8', { fence: 8 })).rejects.toMatchObject({ code: 'ERR_FENCED' });
      await expect(opened.store.getVersioned('empty-handed')).resolves.toEqual({ value: undefined, version: 0 });
      await expect(opened.store.put('empty-handed', 'first', { ifVersion: 0 })).resolves.toMatchObject({ value: 'first' });
    });

    it("checks a delete's fence before its version, and refuses a bad fence with ERR_INVALID_ARGUMENT", async () => {
      const { version } = await opened.store.put('both-delete', 1, { fence: 3 });
      await opened.store.put('both-delete', 2, { fence: 4 });
      await expect(opened.store.delete('both-delete', { ifVersion: version, fence: 3 })).rejects.toMatchObject({ code: 'ERR_FENCED' });
      await expect(opened.store.delete('both-delete', { ifVersion: version, fence: 4 })).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
      await expect(opened.store.delete('both-delete', { fence: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(opened.store.get('both-delete')).resolves.toBe(2);
    });

    it('updates by read-modify-write, starting from undefined', async () => {
      await expect(opened.store.update<number>('n', (n = 0) => n + 1)).resolves.toMatchObject({ value: 1 });
      const second = await opened.store.update<number>('n', async (n = 0) => n + 1);
      expect(second.value).toBe(2);
      await expect(opened.store.getVersioned('n')).resolves.toEqual(second);
    });

    it('calls the update function again with the fresh value when another writer came first', async () => {
      await opened.store.put('list', ['a']);
      const seen: unknown[] = [];
      const other = space.open();
      try {
        const result = await opened.store.update<string[]>('list', async (list = []) => {
          seen.push(list);
          if (seen.length === 1) await other.store.put('list', [...list, 'b']);
          return [...list, 'c'];
        });
        expect(seen).toEqual([['a'], ['a', 'b']]);
        expect(result.value).toEqual(['a', 'b', 'c']);
      } finally {
        await other.close();
      }
    });

    it("gives up with ERR_CONFLICT after maxRetries attempts in all, and passes the function's own errors through unwritten", async () => {
      const other = space.open();
      try {
        let calls = 0;
        const error = await rejection(
          opened.store.update<number>(
            'contended',
            async (n = 0) => {
              calls++;
              await other.store.put('contended', n + 100);
              return n + 1;
            },
            { maxRetries: 2 },
          ),
        );
        expect(error).toMatchObject({ code: 'ERR_CONFLICT' });
        expect(calls).toBe(2);
        const boom = new Error('boom');
        await expect(opened.store.update('contended', () => Promise.reject(boom))).rejects.toBe(boom);
        await expect(opened.store.get('contended')).resolves.toBe(200);
      } finally {
        await other.close();
      }
    });

    it('runs one update of a key at a time within a process, so concurrent local increments all land', async () => {
      let running = 0;
      let mostAtOnce = 0;
      await Promise.all(
        Array.from({ length: 20 }, () =>
          opened.store.update<number>('busy', async (n = 0) => {
            mostAtOnce = Math.max(mostAtOnce, ++running);
            await Promise.resolve();
            running--;
            return n + 1;
          }),
        ),
      );
      expect(mostAtOnce).toBe(1);
      await expect(opened.store.get('busy')).resolves.toBe(20);
    });

    it('refuses what JSON cannot hold with a StoreError (ERR_STORE) naming the key and the path, and stores nothing', async () => {
      const cycle: Record<string, unknown> = { name: 'loop' };
      cycle.self = { back: cycle };
      const cases: Array<[unknown, string]> = [
        [undefined, '$'],
        [{ run: () => 1 }, '$.run'],
        [{ list: [1, 2n] }, '$.list[1]'],
        [cycle, '$.self.back'],
        [{ 'odd key': Number.NaN }, '$["odd key"]'],
        [[Number.POSITIVE_INFINITY], '$[0]'],
        [{ at: new Date(0) }, '$.at'],
        [{ m: new Map([[1, 2]]) }, '$.m'],
        [[new Set([1])], '$[0]'],
        [{ t: new Celsius(3) }, '$.t'],
        [{ s: Symbol('s') }, '$.s'],
        [[1, undefined], '$[1]'],
        [[1, , 3], '$[1]'],
      ];
      for (const [value, path] of cases) {
        const error = await rejection(opened.store.put('bad', value));
        expect(error).toBeInstanceOf(StoreError);
        expect(error).toMatchObject({ code: 'ERR_STORE' });
        expect(error.message).toContain(`at ${path} of store key "bad"`);
      }
      await expect(opened.store.getVersioned('bad')).resolves.toEqual({ value: undefined, version: 0 });
    });

    it('leaves out object properties whose value is undefined, as JSON does', async () => {
      await opened.store.put('optional', { id: 1, note: undefined });
      await expect(opened.store.get('optional')).resolves.toStrictEqual({ id: 1 });
    });

    it('stores an object met twice (not a cycle) as two copies, and objects without a prototype', async () => {
      const shared = { n: 1 };
      const bare = Object.assign(Object.create(null) as Record<string, unknown>, { x: 1 });
      await opened.store.put('shared', { a: shared, b: [shared], bare });
      await expect(opened.store.get('shared')).resolves.toEqual({ a: { n: 1 }, b: [{ n: 1 }], bare: { x: 1 } });
    });

    it('reports a corrupt record as ERR_STORE naming where it is, never as a missing value', async () => {
      await opened.store.put('damaged', { fine: true });
      const where = await space.corrupt('damaged');
      const error = await rejection(opened.store.get('damaged'));
      expect(error).toBeInstanceOf(StoreError);
      expect(error.code).toBe('ERR_STORE');
      expect(error.message).toContain(where);
      await expect(opened.store.get('healthy')).resolves.toBeUndefined();
    });

    it('refuses every operation with ERR_STORE_CLOSED once closed', async () => {
      await opened.store.put('k', 1);
      await opened.close();
      expect(opened.actor.getSnapshot().value).toBe('closed');
      for (const operation of [
        () => opened.store.get('k'),
        () => opened.store.put('k', 2),
        () => opened.store.delete('k'),
        () => opened.store.update('k', () => 3),
      ]) {
        await expect(operation()).rejects.toMatchObject({ code: 'ERR_STORE_CLOSED' });
      }
      await opened.close();
    });

    it('answers a ping once it can serve, ends the wait when the signal aborts, and refuses one with ERR_STORE_CLOSED once closed', async () => {
      expect(opened.ping).toBeTypeOf('function');
      await expect(opened.ping!()).resolves.toBeUndefined();
      const reason = new Error('the caller gave up');
      await expect(opened.ping!(AbortSignal.abort(reason))).rejects.toBe(reason);
      await opened.close();
      await expect(opened.ping!()).rejects.toMatchObject({ code: 'ERR_STORE_CLOSED' });
    });

    it('appends to a log beside the records, in order, and reads it from any index', async () => {
      const { logs } = opened.store;
      await expect(logs.read('h')).resolves.toEqual([]);
      await expect(logs.append('h', [{ n: 1 }])).resolves.toBe(1);
      await expect(logs.append('h', [{ n: 2 }, 'three', null], { ifLength: 1 })).resolves.toBe(4);
      await expect(logs.read('h')).resolves.toEqual([{ n: 1 }, { n: 2 }, 'three', null]);
      await expect(logs.read('h', 2)).resolves.toEqual(['three', null]);
      await expect(logs.read('h', 9)).resolves.toEqual([]);
      // A record of the same name is another thing.
      await expect(opened.store.get('h')).resolves.toBeUndefined();
      await opened.store.put('h', 'record');
      await expect(logs.read('h')).resolves.toHaveLength(4);
      // Another store on the same space sees the log.
      const other = space.open();
      try {
        await expect(other.store.logs.read('h', 3)).resolves.toEqual([null]);
      } finally {
        await other.close();
      }
    });

    it('refuses an append at the wrong length with ERR_CONFLICT, and one that is not JSON with ERR_STORE, appending nothing', async () => {
      const { logs } = opened.store;
      await logs.append('h', ['a', 'b']);
      const stale = await rejection(logs.append('h', ['c'], { ifLength: 1 }));
      expect(stale).toBeInstanceOf(ConflictError);
      expect(stale.message).toMatch(/log "h" to hold 1 entries, but it holds 2/);
      await expect(rejection(logs.append('h', ['c'], { ifLength: 0 }))).resolves.toBeInstanceOf(ConflictError);
      const notJson = await rejection(logs.append('h', ['c', new Celsius(20)]));
      expect(notJson).toMatchObject({ code: 'ERR_STORE' });
      await expect(logs.read('h')).resolves.toEqual(['a', 'b']);
      await expect(rejection(logs.append('h', ['x'], { ifLength: -1 }))).resolves.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    });

    it('lets exactly one of two appends at the same length through, from two stores on one space', async () => {
      const other = space.open();
      try {
        await opened.store.logs.append('race', ['start']);
        const outcomes = await Promise.allSettled([
          opened.store.logs.append('race', ['mine'], { ifLength: 1 }),
          other.store.logs.append('race', ['theirs'], { ifLength: 1 }),
        ]);
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
        expect(refused.reason).toBeInstanceOf(ConflictError);
        await expect(opened.store.logs.read('race')).resolves.toHaveLength(2);
      } finally {
        await other.close();
      }
    });

    it('lets every one of many unconditional appends at once through, in some order, and checks an empty append as any other', async () => {
      const other = space.open();
      try {
        const all = Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? opened : other).store.logs.append('many', [i]));
        const lengths = await Promise.all(all);
        expect([...lengths].sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
        expect(((await opened.store.logs.read<number>('many')) as number[]).sort((a, b) => a - b)).toEqual(
          Array.from({ length: 24 }, (_, i) => i),
        );
      } finally {
        await other.close();
      }
      await opened.store.logs.append('empty', ['x'], { fence: 5 });
      await expect(opened.store.logs.append('empty', [], { ifLength: 1 })).resolves.toBe(1);
      await expect(rejection(opened.store.logs.append('empty', [], { ifLength: 0 }))).resolves.toBeInstanceOf(ConflictError);
      await expect(rejection(opened.store.logs.append('empty', [], { fence: 1 }))).resolves.toBeInstanceOf(FencedError);
    });

    it('refuses an append carrying an older fencing token than the log accepted, with ERR_FENCED', async () => {
      const { logs } = opened.store;
      await logs.append('f', ['by 5'], { fence: 5 });
      const old = await rejection(logs.append('f', ['by 3'], { fence: 3 }));
      expect(old).toBeInstanceOf(FencedError);
      expect(old.message).toMatch(/log "f" has accepted fencing token 5; this append carries 3/);
      await expect(logs.append('f', ['by 5 again'], { fence: 5 })).resolves.toBe(2);
      await expect(logs.append('f', ['by 7'], { fence: 7 })).resolves.toBe(3);
      await expect(rejection(logs.append('f', ['by 5'], { fence: 5 }))).resolves.toBeInstanceOf(FencedError);
      await expect(logs.append('f', ['unfenced'])).resolves.toBe(4);
      await expect(logs.read('f')).resolves.toEqual(['by 5', 'by 5 again', 'by 7', 'unfenced']);
    });

    // Only backends with a connection have this case; the file backend has none to lose.
    if (!canLoseConnection) return;
    it('fails fast with ERR_STORE_UNAVAILABLE while its backend is down, and serves again once it is back', async () => {
      const outage = space.outage!;
      await opened.store.put('k', 'before');
      await outage.down();
      await waitFor(opened.actor, (s) => s.value === 'failed', { timeout: 5000 });
      const started = performance.now();
      for (const operation of [
        () => opened.store.get('k'),
        () => opened.store.put('k', 'during'),
        () => opened.store.update('k', () => 'during'),
      ]) {
        await expect(operation()).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      }
      await expect(opened.ping!()).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      expect(performance.now() - started).toBeLessThan(2000); // at once, not after a connect or command timeout (5 s)
      await outage.up();
      await waitFor(opened.actor, (s) => s.value === 'ready', { timeout: 10_000 });
      await expect(opened.ping!()).resolves.toBeUndefined();
      await expect(opened.store.get('k')).resolves.toBe('before');
    });
  });
}
