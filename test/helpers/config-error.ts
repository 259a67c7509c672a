import { expect } from 'vitest';
import { ConfigError, FlowdError } from '../../src/kernel/errors.js';

/** What a ConfigError is expected to carry. */
export interface ExpectedConfigError {
  file?: string;
  section?: string;
  key?: string;
  line?: number;
  /** Fragments the message must contain (besides the location). */
  says?: string[];
}

function check(error: unknown, expected: ExpectedConfigError): ConfigError {
  expect(error).toBeInstanceOf(ConfigError);
  expect(error).toBeInstanceOf(FlowdError);
  const e = error as ConfigError;
  expect(e.code).toBe('ERR_CONFIG');
  expect(e.name).toBe('ConfigError');
  if ('file' in expected) {
    expect(e.file).toBe(expected.file);
    expect(e.message).toContain(expected.line !== undefined ? `${expected.file}:${expected.line}` : `${expected.file}`);
  }
  if ('line' in expected) expect(e.line).toBe(expected.line);
  if ('section' in expected) {
    expect(e.section).toBe(expected.section);
    expect(e.message).toContain(`[${expected.section}]`);
  }
  if ('key' in expected) {
    expect(e.key).toBe(expected.key);
    expect(e.message).toContain(`"${expected.key}"`);
  }
  for (const fragment of expected.says ?? []) expect(e.message).toContain(fragment);
  return e;
}

/** Runs `fn`, asserts it throws a ConfigError matching `expected`, and returns the error. */
export function expectConfigError(fn: () => unknown, expected: ExpectedConfigError = {}): ConfigError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) throw new Error('expected a ConfigError, but nothing was thrown');
  return check(thrown, expected);
}

/** The same, for a promise that should reject. */
export async function expectConfigErrorAsync(promise: Promise<unknown>, expected: ExpectedConfigError = {}): Promise<ConfigError> {
  let thrown: unknown;
  try {
    await promise;
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) throw new Error('expected a ConfigError, but the promise resolved');
  return check(thrown, expected);
}
