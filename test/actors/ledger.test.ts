import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ledger, LedgerError } from '../../actors/sources/ledger.js';
import { FlowdError } from '../../src/kernel/errors.js';

describe('Ledger', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flowd-ledger-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('reads a missing file as an empty ledger', async () => {
    await expect(new Ledger(path.join(dir, 'none.json')).load()).resolves.toBeUndefined();
  });

  it.each([
    ['not JSON', '{ files', /is corrupt \(.*\); it was left as it is/],
    ['JSON of another shape', '[]', /is corrupt: expected \{ "files": \{ \.\.\. \} \}/],
  ])('refuses a file that is %s with a LedgerError, a FlowdError with code ERR_SOURCE naming the file', async (_, text, message) => {
    const file = path.join(dir, 'files-ledger.json');
    await writeFile(file, text);
    const error = await new Ledger(file).load().then(
      () => expect.unreachable('expected a rejection'),
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).toBeInstanceOf(FlowdError);
    expect(error).toMatchObject({ name: 'LedgerError', code: 'ERR_SOURCE', message: expect.stringContaining(file) });
    expect((error as Error).message).toMatch(message);
  });
});
