import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SupervisorSettings } from '../../machines/supervisor.js';
import type { AppInfo, AppSections } from '../../actors/workers/worker.js';
import type { ServiceSettings } from '../runtime/app-services.js';
import { ConfigError } from '../kernel/errors.js';
import { appNameProblem, compileFlowSettings, compileLogSettings, type LogSettings } from './flow-settings.js';
import { parseIni, type IniSection } from './ini-file.js';
import { expandEnv, SectionReader, type RawValue } from '../kernel/section-reader.js';
import { findApiSection } from './api-settings.js';
import { compileServices } from './service-settings.js';
import { compileInspectorSettings, type InspectorSettings } from './inspector-settings.js';
import { compilePluginSettings, type PluginSettings } from './plugin-settings.js';
import { compileWorkflowSettings, type WorkflowSettings } from './workflow-settings.js';
import { compileEmailSettings, type EmailSettings } from './email-settings.js';

/** A `[Source]` section as written, compiled once its type is known. */
export interface RawSource {
  type: string | undefined;
  values: Map<string, RawValue>;
  lines: Map<string, number>;
}

/** A Flow app's INI file, compiled and fully defaulted. */
export interface AppConfig {
  file: string;
  app: AppInfo;
  workerClass: string | undefined;
  /** The line `[Flow] class` is written on, for a worker that cannot be loaded. */
  workerClassLine: number | undefined;
  settings: SupervisorSettings;
  source: RawSource;
  log: LogSettings;
  /** `[Store]`, `[Lock]` and `[Api]` (or `[Viz One]`), compiled. */
  services: ServiceSettings;
  /** `[Inspector]`, compiled; undefined without the section (and without `--inspect`). */
  inspector: InspectorSettings | undefined;
  /** `[Plugins]`, compiled; undefined without the section. */
  plugins: PluginSettings | undefined;
  /** `[Workflow]`, compiled; undefined without the section. */
  workflow: WorkflowSettings | undefined;
  /** `[Email]`, compiled; undefined without the section. */
  email: EmailSettings | undefined;
  /** Every section the runtime does not own, for the worker's configure(). */
  sections: AppSections;
  /** The line of each key of those sections (section -> key as written -> line), for errors. */
  sectionLines: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

/** Command-line overrides (`-n`, `-w`, `--log-level`). */
export interface ConfigOverrides {
  appName?: string;
  workers?: number;
  logLevel?: string;
  /** `--inspect[=port]`: enables `[Inspector]` (true: its port, or 9464), or sets its port. */
  inspect?: boolean | number;
  /**
   * false for a command that sends no mail (`flowd plugins`): `[Email]` is
   * not read, so its `${NAME}` variables (the SMTP password) need not be set.
   * @default true
   */
  email?: boolean;
}

const OWNED = new Set(['Flow', 'Source', 'Log', 'Store', 'Lock', 'Api', 'Viz One', 'Inspector', 'Plugins', 'Workflow', 'Email']);

/**
 * An app needs [Flow] (its worker), [Workflow] or [Plugins]; with one of the
 * last two, a missing [Flow] counts as empty (the app's name is the file's).
 * A [flow] written in another case is an error whatever else is there: it
 * would otherwise pass silently as one of the app's own sections.
 */
function checkFlowSection(sections: ReadonlyMap<string, IniSection>, file: string): void {
  if (sections.has('Flow')) return;
  const near = [...sections.keys()].find((name) => name.toLowerCase() === 'flow');
  if (near) throw new ConfigError({ file, section: near }, `section names are case-sensitive; expected [Flow], found [${near}]`);
  if (sections.has('Workflow') || sections.has('Plugins')) return;
  throw new ConfigError(
    { file, section: 'Flow' },
    'is missing; expected a [Flow] section with at least class = ..., or a [Workflow] section (module = ./workflows.ts), or a [Plugins] section',
  );
}

/**
 * Reads and compiles an app's INI file. Throws ConfigError naming the file,
 * section, key, the value found and what was expected.
 */
export async function loadAppConfig(
  file: string,
  overrides: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<AppConfig> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (error as Error).message;
    throw new ConfigError({ file }, `cannot be read: ${reason}; expected an app's INI file`, { cause: error });
  }
  return compileAppConfig(text, file, overrides, env);
}

/** Compiles INI text (see loadAppConfig). */
export function compileAppConfig(
  text: string,
  file: string,
  overrides: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): AppConfig {
  const document = parseIni(text, file);
  const dir = path.dirname(path.resolve(file));
  const read = (name: string, section: IniSection | undefined, extra: Record<string, RawValue> = {}, keepCase = false) => {
    const values = new Map<string, RawValue>();
    const lines = new Map<string, number>();
    for (const [lower, entry] of section?.entries ?? []) {
      const key = keepCase ? entry.key : lower;
      values.set(key, expandEnv(entry.value, env, { file, section: name, key, line: entry.line }));
      lines.set(key, entry.line);
    }
    for (const [key, value] of Object.entries(extra)) {
      if (value === undefined) continue;
      // A command-line override has no line in the file.
      values.set(key, value);
      lines.delete(key);
    }
    return { values, lines, reader: new SectionReader(values, { file, section: name, lines }) };
  };

  const sectionNames = [...document.sections.keys()];
  checkFlowSection(document.sections, file);

  const flow = read('Flow', document.sections.get('Flow'), { 'app name': overrides.appName, workers: overrides.workers });
  const compiledFlow = compileFlowSettings(flow.reader);
  const nameProblem = compiledFlow.appName === undefined ? undefined : appNameProblem(compiledFlow.appName);
  if (nameProblem !== undefined) flow.reader.fail('app name', nameProblem);
  flow.reader.finish();

  const log = read('Log', document.sections.get('Log'), { level: overrides.logLevel });
  const logSettings = compileLogSettings(log.reader);
  log.reader.finish();

  const source = read('Source', document.sections.get('Source'));
  const type = source.values.get('type');

  const appName = compiledFlow.appName ?? path.basename(file, path.extname(file));
  const stateDir = path.resolve(dir, compiledFlow.stateDir ?? path.join('.flowd', appName));
  const apiName = findApiSection(sectionNames, file);
  const services = compileServices(
    (name) => {
      const actual = name === 'Api' ? apiName : name;
      const section = actual && document.sections.get(actual);
      return section ? read(actual, section).reader : undefined;
    },
    { dir, stateDir },
  );

  let inspector: InspectorSettings | undefined;
  const inspectorSection = document.sections.get('Inspector');
  if (inspectorSection || overrides.inspect !== undefined) {
    const port = typeof overrides.inspect === 'number' ? overrides.inspect : undefined;
    const inspect = read('Inspector', inspectorSection, { port });
    inspector = compileInspectorSettings(inspect.reader);
    inspect.reader.finish();
  }

  let plugins: PluginSettings | undefined;
  const pluginSection = document.sections.get('Plugins');
  if (pluginSection) {
    const section = read('Plugins', pluginSection);
    plugins = compilePluginSettings(section.reader, dir);
    section.reader.finish();
    if (compiledFlow.workerClass !== undefined) {
      throw new ConfigError(
        { file, section: 'Flow', key: 'class', line: flow.lines.get('class') },
        `is set, and so is [Plugins]: an app with plugins runs them as its workers; expected one of the two`,
      );
    }
    if (typeof type === 'string' && type.trim().toLowerCase() !== 'event-log') {
      throw new ConfigError(
        { file, section: 'Source', key: 'type', line: source.lines.get('type') },
        `found "${type}"; an app with [Plugins] reads an event log: expected type = event-log`,
      );
    }
  } else if (typeof type === 'string' && type.trim().toLowerCase() === 'event-log') {
    throw new ConfigError(
      { file, section: 'Plugins' },
      'is missing; [Source] type = event-log hands its events to plugins: expected [Plugins] paths = ./plugins',
    );
  }

  let workflow: WorkflowSettings | undefined;
  const workflowSection = document.sections.get('Workflow');
  if (workflowSection) {
    const section = read('Workflow', workflowSection);
    workflow = compileWorkflowSettings(section.reader, dir);
    section.reader.finish();
    if (compiledFlow.workerClass === undefined && !pluginSection && typeof type === 'string' && type !== '') {
      throw new ConfigError(
        { file, section: 'Source', key: 'type', line: source.lines.get('type') },
        `found "${type}", but the app has no worker ([Flow] class) to hand its events to; expected no [Source] in an app that runs only workflows, or a [Flow] class`,
      );
    }
  }

  let email: EmailSettings | undefined;
  const emailSection = document.sections.get('Email');
  if (emailSection && overrides.email !== false) {
    const section = read('Email', emailSection);
    email = compileEmailSettings(section.reader);
    section.reader.finish();
  }

  // No prototype: a section called __proto__ or constructor is just a section.
  const sections = Object.create(null) as Record<string, Record<string, string>>;
  const sectionLines = new Map<string, ReadonlyMap<string, number>>();
  for (const [name, section] of document.sections) {
    if (OWNED.has(name)) continue;
    // The app's own keys keep their case: they are often field names (`asset.alternateTitle`), which are case-sensitive.
    const own = read(name, section, {}, true);
    sections[name] = Object.fromEntries(own.values) as Record<string, string>;
    sectionLines.set(name, own.lines);
  }

  return {
    file,
    app: { name: appName, dir, stateDir },
    workerClass: compiledFlow.workerClass,
    workerClassLine: flow.lines.get('class'),
    settings: compiledFlow.settings,
    source: { type: typeof type === 'string' && type !== '' ? type : undefined, values: source.values, lines: source.lines },
    log: { ...logSettings, file: logSettings.file === undefined ? undefined : path.resolve(dir, logSettings.file) },
    services,
    sectionLines,
    inspector,
    plugins,
    workflow,
    email,
    sections,
  };
}
