import { describe, expect, it } from 'vitest';
import * as here from '../../../src/kernel/errors.js';
import * as workflowsHere from '../../../src/workflows/errors.js';

// A second copy of the same modules, as a second copy of flowd in a process would load them.
const copy = (file: string): Promise<unknown> => import(/* @vite-ignore */ `${file}?copy=2`);
const other = (await copy('../../../src/kernel/errors.js')) as typeof here;
const workflowsOther = (await copy('../../../src/workflows/errors.js')) as typeof workflowsHere;

describe('flowd errors across copies of flowd', () => {
  it('are two distinct classes in the two copies', () => {
    expect(other.ConflictError).not.toBe(here.ConflictError);
  });

  it('satisfy instanceof against the other copy, for the class and its ancestors', () => {
    const error = new other.ConflictError('a newer version was written');
    expect(error instanceof here.ConflictError).toBe(true);
    expect(error instanceof here.FlowdError).toBe(true);
    expect(error instanceof Error).toBe(true);
    expect(
      new workflowsOther.TaskError('Transcode', 'Transcode#1', { code: 'ERR_WORKER_FAILED', message: 'boom' }) instanceof
        workflowsHere.TaskError,
    ).toBe(true);
  });

  it('do not satisfy instanceof against a sibling class or for a plain error', () => {
    expect(new other.ConflictError('x') instanceof here.StoreError).toBe(false);
    expect(new here.FencedError('x') instanceof here.ConflictError).toBe(false);
    expect(new Error('x') instanceof here.FlowdError).toBe(false);
    expect({ code: 'ERR_CONFLICT' } instanceof here.ConflictError).toBe(false);
    expect((null as unknown) instanceof here.FlowdError).toBe(false);
  });

  it("keeps the prototype check for a subclass of the user's own", () => {
    class MineError extends here.ConflictError {}
    expect(new MineError('x') instanceof MineError).toBe(true);
    expect(new here.ConflictError('x') instanceof MineError).toBe(false);
    expect(new MineError('x') instanceof other.ConflictError).toBe(true);
  });

  it('brands every exported error class', () => {
    const classes = ([...Object.values(here), ...Object.values(workflowsHere)] as unknown[]).filter(
      (value): value is new (...args: never[]) => Error =>
        typeof value === 'function' && (value as { prototype: unknown }).prototype instanceof Error,
    );
    expect(classes.length).toBeGreaterThan(15);
    for (const errorClass of classes) {
      const brand = Symbol.for(`flowd.error.${errorClass.name}`);
      expect(Object.hasOwn(errorClass.prototype, brand), errorClass.name).toBe(true);
    }
  });
});
