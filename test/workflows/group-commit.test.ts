import { describe, expect, it } from 'vitest';
import { groupCommit } from '../../src/workflows/group-commit.js';
import { deferred } from '../helpers/once.js';
import { flush } from '../helpers/wait.js';

/** A writer whose writes wait for `turn` before taking their batch; records each batch it took. */
function gatedWriter() {
  const batches: Array<{ key: string; items: readonly string[] }> = [];
  const turns: Array<ReturnType<typeof deferred<void>>> = [];
  const add = groupCommit<string, string>(async (key, take) => {
    const turn = deferred<void>();
    turns.push(turn);
    await turn.promise;
    const items = take();
    batches.push({ key, items: [...items] });
    return items.map((item) => `${item} written`);
  });
  return { add, batches, turns };
}

describe('groupCommit', () => {
  it('writes the items added while a batch waits for its turn together, each answered with its own result', async () => {
    const { add, batches, turns } = gatedWriter();
    const answers = [add('run-1', 'a'), add('run-1', 'b'), add('run-2', 'x'), add('run-1', 'c')];
    expect(turns).toHaveLength(2);
    turns.forEach((turn) => turn.resolve());
    await expect(Promise.all(answers)).resolves.toEqual(['a written', 'b written', 'x written', 'c written']);
    expect(batches).toEqual([
      { key: 'run-1', items: ['a', 'b', 'c'] },
      { key: 'run-2', items: ['x'] },
    ]);
  });

  it('starts the next batch with an item added once the write took its batch', async () => {
    const { add, batches, turns } = gatedWriter();
    const first = add('run-1', 'a');
    turns[0]!.resolve();
    await flush();
    const second = add('run-1', 'b');
    expect(turns).toHaveLength(2);
    turns[1]!.resolve();
    await expect(Promise.all([first, second])).resolves.toEqual(['a written', 'b written']);
    expect(batches.map((batch) => batch.items)).toEqual([['a'], ['b']]);
  });

  it('rejects every item of a batch whose write failed, and the next item starts another batch', async () => {
    let fail = true;
    const add = groupCommit<string, string>(async (_key, take) => {
      await flush();
      if (fail) throw new Error('store down');
      return take().map((item) => `${item} written`);
    });
    const a = add('run-1', 'a');
    const b = add('run-1', 'b');
    await expect(a).rejects.toThrow('store down');
    await expect(b).rejects.toThrow('store down');
    fail = false;
    await expect(add('run-1', 'c')).resolves.toBe('c written');
  });
});
