import { realpath, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { FlowdError, PluginError } from '../../src/kernel/errors.js';
import { importFailure, importModule } from '../import-module.js';
import { checkMatch } from './match.js';
import type { CallbackOptions, PluginCallback, PluginEmails, PluginRegistrar, RegisteredCallback } from './plugin-api.js';

const OPTION_KEYS = new Set(['match', 'args', 'stopOnError']);

// Node's CommonJS cache, shared by every `require` of the process.
const commonJsCache = createRequire(import.meta.url).cache;

/**
 * Imports a plugin module afresh and calls its `registerCallbacks(reg)`;
 * resolves with the callbacks it registered, in order, and the file's mtime.
 *
 * Fresh means a new module instance for every `version`: the URL carries
 * `?v=<version>`, a new module for Node's ESM loader (with or without
 * tsx's hooks) and for vitest's module runner, which both key modules by
 * URL. A file that loads as CommonJS (a `.js`, or under tsx a `.ts`,
 * outside a `"type": "module"` package) is also kept by Node in
 * `require.cache` by file name whatever the query, so its entry is dropped
 * first. Only the plugin file itself is fresh: modules it imports stay as
 * first loaded. Each version stays in memory (ESM modules are never freed),
 * which is fine for reloads made by hand.
 *
 * `registerCallbacks` may be a named export or a property of the default
 * export (a CommonJS module's exports come under `default`).
 *
 * @param version distinct for every load of the same file in this process; the same version gives the module as first imported.
 * @throws PluginError ERR_PLUGIN_LOAD naming the file and the cause (a missing file, an import error, no registerCallbacks, a bad registration, registerCallbacks throwing).
 * @example const { callbacks } = await loadPlugin('/srv/plugins/notify.mjs', 'notify', log, 1);
 */
export async function loadPlugin(
  file: string,
  name: string,
  log: Logger,
  version: number,
): Promise<{ callbacks: RegisteredCallback[]; mtimeMs: number; emails: PluginEmails }> {
  const failure = (problem: string, cause?: unknown) =>
    new PluginError(
      'ERR_PLUGIN_LOAD',
      name,
      `plugin "${name}" could not be loaded from ${file}: ${problem}`,
      cause === undefined ? undefined : { cause },
    );
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(file)).mtimeMs;
  } catch (error) {
    throw failure(`cannot read the file (${messageOf(error)})`, error);
  }
  await forgetCommonJs(file);
  let module: Record<string, unknown>;
  try {
    module = await importModule(file, `v=${version}`);
  } catch (error) {
    throw failure(`importing it failed: ${importFailure(error)}`, error);
  }
  const register = registerCallbacksOf(module);
  if (register === undefined) {
    throw failure(`it exports no registerCallbacks(reg) function; its exports are: ${exportNames(module).join(', ') || '(none)'}`);
  }
  const callbacks: RegisteredCallback[] = [];
  let emails: PluginEmails = true;
  let registering = true;
  const registrar: PluginRegistrar = {
    plugin: name,
    log,
    registerCallback<A>(callbackName: string, callback: PluginCallback<A>, options?: CallbackOptions<A>): void {
      if (!registering)
        throw new FlowdError(
          'ERR_INVALID_ARGUMENT',
          `${file}: registerCallback("${String(callbackName)}") was called after registerCallbacks returned; register every callback while it runs`,
        );
      callbacks.push(
        checkRegistration(file, callbacks, callbackName, callback, options, (message) => log.warn({ plugin: name, file }, message)),
      );
    },
    setEmails(choice: PluginEmails): void {
      if (!registering)
        throw new FlowdError(
          'ERR_INVALID_ARGUMENT',
          `${file}: setEmails() was called after registerCallbacks returned; call it while registerCallbacks runs`,
        );
      emails = checkEmails(file, choice);
    },
  };
  try {
    await register(registrar);
  } catch (error) {
    throw failure(`registerCallbacks failed: ${messageOf(error)}`, error);
  } finally {
    registering = false;
  }
  if (callbacks.length === 0)
    log.warn({ plugin: name, file }, `plugin "${name}" (${file}) registered no callbacks; it will take no events`);
  return { callbacks, mtimeMs, emails };
}

/** Validates `setEmails(...)`: true, false, or a list of e-mail addresses. */
function checkEmails(file: string, emails: unknown): PluginEmails {
  if (typeof emails === 'boolean') return emails;
  // A bare address or `Name <address>`: [Email] checks the same way.
  const address = /^(?:[^\s@<>,]+@[^\s@<>,]+|[^<>]*<[^\s@<>,]+@[^\s@<>,]+>)$/;
  if (Array.isArray(emails) && emails.length > 0 && emails.every((entry) => typeof entry === 'string' && address.test(entry.trim())))
    return emails.map((entry: string) => entry.trim());
  throw new FlowdError(
    'ERR_INVALID_ARGUMENT',
    `${file}: setEmails takes true ([Email] to), false (no e-mail) or a list of e-mail addresses; found ${JSON.stringify(emails) ?? typeof emails}`,
  );
}

/** Validates one `registerCallback` call; throws a FlowdError (ERR_INVALID_ARGUMENT) naming the file, the callback and what was expected. */
function checkRegistration(
  file: string,
  registered: RegisteredCallback[],
  name: unknown,
  callback: unknown,
  options: unknown,
  warn: (message: string) => void,
): RegisteredCallback {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new FlowdError(
      'ERR_INVALID_ARGUMENT',
      `${file}: registerCallback's first argument must be the callback's name, a non-empty string; found ${typeof name === 'string' ? JSON.stringify(name) : typeof name}`,
    );
  }
  const where = `${file} callback "${name}"`;
  if (registered.some((existing) => existing.name === name))
    throw new FlowdError(
      'ERR_INVALID_ARGUMENT',
      `${where}: a callback of that name is already registered; names must be unique within a plugin`,
    );
  if (typeof callback !== 'function')
    throw new FlowdError(
      'ERR_INVALID_ARGUMENT',
      `${where}: the callback must be a function (event, ctx, args); found ${callback === null ? 'null' : typeof callback}`,
    );
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
    throw new FlowdError(
      'ERR_INVALID_ARGUMENT',
      `${where}: options must be an object { match, args, stopOnError }; found ${options === null ? 'null' : Array.isArray(options) ? 'a list' : typeof options}`,
    );
  }
  const given = (options ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(given).filter((key) => !OPTION_KEYS.has(key));
  if (unknown.length > 0)
    throw new FlowdError(
      'ERR_INVALID_ARGUMENT',
      `${where}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => `"${key}"`).join(', ')}; the options are match, args and stopOnError`,
    );
  const { match, args, stopOnError } = given;
  if (stopOnError !== undefined && typeof stopOnError !== 'boolean') {
    throw new FlowdError(
      'ERR_INVALID_ARGUMENT',
      `${where}: stopOnError must be true or false; found ${typeof stopOnError === 'string' ? JSON.stringify(stopOnError) : typeof stopOnError}`,
    );
  }
  return {
    name,
    callback: callback as PluginCallback<unknown>,
    match: checkMatch(match, where, warn),
    args,
    stopOnError: stopOnError ?? true,
  };
}

function registerCallbacksOf(module: Record<string, unknown>): ((reg: PluginRegistrar) => unknown) | undefined {
  if (typeof module.registerCallbacks === 'function') return module.registerCallbacks as (reg: PluginRegistrar) => unknown;
  const fallback = module.default as { registerCallbacks?: unknown } | null | undefined;
  if (
    fallback !== null &&
    (typeof fallback === 'object' || typeof fallback === 'function') &&
    typeof fallback.registerCallbacks === 'function'
  ) {
    return (fallback.registerCallbacks as (reg: PluginRegistrar) => unknown).bind(fallback);
  }
  return undefined;
}

/** The module's export names, and those of its default export when that is an object (CommonJS). */
function exportNames(module: Record<string, unknown>): string[] {
  const names = Object.keys(module);
  const fallback = module.default;
  if (fallback !== null && typeof fallback === 'object') names.push(...Object.keys(fallback).map((key) => `default.${key}`));
  return names.sort();
}

/** Drops the file from Node's CommonJS cache, under its name and its real path (which is how Node keys it). */
async function forgetCommonJs(file: string): Promise<void> {
  delete commonJsCache[file];
  const real = await realpath(file).catch(() => file);
  delete commonJsCache[real];
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
