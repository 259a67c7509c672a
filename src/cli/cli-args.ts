/**
 * The flowd command's arguments: its commands and their options, the help
 * for each, and the parsing that turns argv into an Invocation, or into a
 * one-line ArgumentError saying what is wrong (with a did-you-mean for a
 * misspelt command or option) and which command's usage to point to.
 */
import { JOURNAL_STATES } from '../inspector/journal.js';
import { parseArgs } from 'node:util';
import { parseDuration } from '../kernel/duration.js';
import { hint } from '../kernel/section-reader.js';
import { UsageError } from '../kernel/errors.js';
import { GRAPH_FORMATS, isGraphFormat, type GraphFormat } from '../graph/formats.js';

/** A command as help and errors name it: `workflow start` is one. */
export type CommandKey = 'run' | 'check' | 'graph' | 'plugins' | 'events' | 'workflow start' | 'workflow status' | 'init' | 'help';

interface CommandSpec {
  usage: string;
  /** What it does, for `flowd help <command>`. */
  about: string;
}

const COMMANDS: Record<CommandKey, CommandSpec> = {
  run: {
    usage: 'flowd run <app.ini> [-n name] [-w workers] [--log-level level] [--inspect[=port]]',
    about:
      'Run the app: its source feeds events to its workers until stopped\n(SIGTERM / SIGINT) or, for stdin, until every event has an outcome.',
  },
  check: {
    usage: 'flowd check <app.ini> [-n name] [-w workers] [--log-level level]',
    about: 'Validate the INI file, load the worker class, print a summary.',
  },
  graph: {
    usage: 'flowd graph <app.ini> [--format mermaid|dot|svg] [--out file] [--log-level level]',
    about: 'Draw every machine of the app: Markdown with Mermaid diagrams\n(default), one Graphviz digraph (dot), or that digraph as SVG.',
  },
  plugins: {
    usage: 'flowd plugins <app.ini> [--json | --reset-cursor name [--to latest|earliest|id] | --reactivate name] [--log-level level]',
    about:
      "List an event-log app's plugins: their callbacks, state and cursor\n(read from the app's store). --reset-cursor sets a plugin's cursor\nanew (after a log was emptied or restored, say) and clears its\ndeactivation; the app's daemon must be stopped. --reactivate retries\na plugin a failed callback deactivated, from the event it failed on,\nas a restart does: a running daemon is asked, and does it within its\nfetch interval; with none, the next start finds it active.",
  },
  events: {
    usage: 'flowd events <app.ini> [--state state] [--id id] [--json] [-n name]',
    about:
      "Show the event journal of the app's running daemon (read from its\ninspector, found through the app's state folder): the latest events\nwith their state, or with --id one event's timeline and error.\n--state: queued, running, retrying, failed (dead-lettered too),\ndead-lettered, completed, expired, rejected or returned.",
  },
  'workflow start': {
    usage: 'flowd workflow start <app.ini> <name> [--input json] [--wait [--timeout duration]]',
    about:
      "Start a run of a workflow of the app's [Workflow] module: records it\nin the app's store and prints its id; the app's daemon (flowd run)\nruns it. --wait then follows it (and the runs that continue it as new,\nprinting their ids) and prints the last one's status when it ends; it\nsays so when no daemon takes the run up.",
  },
  'workflow status': {
    usage: 'flowd workflow status <app.ini> <run id> [--json]',
    about: "Print a run's state, its activity calls, and its result or error\n(read from the app's store).",
  },
  init: {
    usage: 'flowd init [folder]',
    about:
      'Create a new app in the folder (default: this one): package.json,\napp.ini, a worker in TypeScript and its test. Existing files are\nnever overwritten.',
  },
  help: {
    usage: 'flowd help [command]',
    about: 'Show the help, or the help of one command.',
  },
};

const APP_COMMANDS: CommandKey[] = ['run', 'check', 'graph', 'plugins'];

interface OptionSpec {
  name: string;
  short?: string;
  type: 'string' | 'boolean';
  /** Its value in help: `<file>`. */
  value?: string;
  help: string;
  commands: CommandKey[];
}

const OPTIONS: OptionSpec[] = [
  {
    name: 'name',
    short: 'n',
    type: 'string',
    value: '<name>',
    help: 'app name (overrides [Flow] app name)',
    commands: [...APP_COMMANDS, 'events'],
  },
  { name: 'workers', short: 'w', type: 'string', value: '<n>', help: 'worker slots (overrides [Flow] workers)', commands: APP_COMMANDS },
  {
    name: 'log-level',
    type: 'string',
    value: '<level>',
    help: 'trace, debug, info, warn, error, fatal or silent\n(overrides [Log] level)',
    commands: APP_COMMANDS,
  },
  {
    name: 'inspect',
    type: 'string',
    value: '[=port]',
    help: 'serve the inspector on 127.0.0.1 (or [Inspector]),\non this port ([Inspector] port, or 9464 by default)',
    commands: ['run'],
  },
  { name: 'format', type: 'string', value: '<format>', help: 'mermaid (default), dot or svg', commands: ['graph'] },
  { name: 'out', type: 'string', value: '<file>', help: 'write to this file (prints its path)', commands: ['graph'] },
  { name: 'json', type: 'boolean', help: 'print JSON instead of a table', commands: ['plugins', 'events', 'workflow status'] },
  { name: 'state', type: 'string', value: '<state>', help: 'only events in this state (failed, running, ...)', commands: ['events'] },
  { name: 'id', type: 'string', value: '<id>', help: "one event: its timeline, and a failure's error", commands: ['events'] },
  {
    name: 'reset-cursor',
    type: 'string',
    value: '<plugin>',
    help: "set the plugin's cursor anew (see --to) and clear\nits deactivation; stop the app's daemon first",
    commands: ['plugins'],
  },
  {
    name: 'reactivate',
    type: 'string',
    value: '<plugin>',
    help: 'retry a plugin a failed callback deactivated, from\nthe event it failed on; a running daemon does it\nwithin its fetch interval',
    commands: ['plugins'],
  },
  {
    name: 'to',
    type: 'string',
    value: '<where>',
    help: "--reset-cursor: latest (after the log's newest\nevent, the default), earliest, or an event id to go\non from",
    commands: ['plugins'],
  },
  { name: 'input', type: 'string', value: '<json>', help: "the run's input (default null)", commands: ['workflow start'] },
  {
    name: 'wait',
    type: 'boolean',
    help: 'wait for the run (or the run that continues it as\nnew) to end; exit 1 if it failed',
    commands: ['workflow start'],
  },
  {
    name: 'timeout',
    type: 'string',
    value: '<duration>',
    help: '--wait: stop waiting after this long (30s, 5m, 1h)\nand exit 1; the run goes on',
    commands: ['workflow start'],
  },
  { name: 'help', short: 'h', type: 'boolean', help: 'show this help', commands: [] },
  { name: 'version', short: 'v', type: 'boolean', help: 'show the version', commands: [] },
];

/** The states `flowd events --state` takes: the journal's. */
const EVENT_STATES: readonly string[] = JOURNAL_STATES;

/** The levels `--log-level` takes, as `[Log] level` does. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** What the command line asks for. */
export interface Invocation {
  command: 'run' | 'check' | 'graph' | 'plugins' | 'events' | 'workflow' | 'init' | 'help' | 'version';
  /** The command as help names it (`workflow start`); undefined for help and version. */
  key?: CommandKey | undefined;
  /** The app's INI file. */
  file?: string | undefined;
  name?: string | undefined;
  workers?: number | undefined;
  logLevel?: string | undefined;
  /** `--inspect` (true) or `--inspect=<port>`. */
  inspect?: boolean | number;
  format?: GraphFormat;
  out?: string;
  json?: boolean;
  /** plugins `--reset-cursor <plugin> [--to latest|earliest|<id>]`: where the plugin goes on. */
  resetCursor?: { plugin: string; to: 'latest' | 'earliest' | number };
  /** plugins `--reactivate <plugin>`: the plugin to retry. */
  reactivate?: string;
  /** `workflow start|status` and its argument (a workflow's name, a run's id). */
  workflow?: { action: 'start' | 'status'; argument: string; input?: string; wait?: boolean; timeoutMs?: number };
  /** events `--state` and `--id`. */
  events?: { state?: string; id?: string };
  /** init: the folder to create the app in. */
  folder?: string;
  /** help: the text to print. */
  help?: string;
}

/**
 * A usage error from the command line: one line saying what is wrong; the
 * CLI adds a line with the usage of `command` (or the pointer to --help).
 */
export class ArgumentError extends UsageError {
  readonly command: CommandKey | undefined;
  constructor(message: string, command?: CommandKey) {
    super(message);
    this.command = command;
  }
}

/** The line printed under a usage error: the command's synopsis and where its help is. */
export function usageHint(command: CommandKey | undefined): string {
  if (command === undefined || command === 'help') return 'Run flowd --help for usage.';
  return `Usage: ${COMMANDS[command].usage}  (flowd help ${command} for more)`;
}

const optionLabel = (option: OptionSpec) =>
  `${option.short ? `-${option.short}, ` : '    '}--${option.name}${option.value ? (option.value.startsWith('[') ? option.value : ` ${option.value}`) : ''}`;

function optionLines(options: OptionSpec[]): string[] {
  const width = Math.max(...options.map((option) => optionLabel(option).length)) + 2;
  return options.flatMap((option) =>
    option.help.split('\n').map((line, i) => `  ${(i === 0 ? optionLabel(option) : '').padEnd(width)}${line}`),
  );
}

const indent = (text: string, by: string) =>
  text
    .split('\n')
    .map((line) => `${by}${line}`)
    .join('\n');

/** `flowd --help`: every command, every option, the exit codes. */
export function generalHelp(): string {
  const keys = Object.keys(COMMANDS) as CommandKey[];
  const usage = keys.map((key) => `  ${COMMANDS[key].usage}`).concat('  flowd --help | --version');
  const commands = keys.map((key) => {
    const [first = '', ...rest] = COMMANDS[key].about.split('\n');
    return [`  ${key.padEnd(16)}${first}`, ...rest.map((line) => `  ${''.padEnd(16)}${line}`)].join('\n');
  });
  // An option of a few commands says which.
  const options = OPTIONS.map((option) =>
    option.commands.length > 0 && option.commands !== APP_COMMANDS
      ? { ...option, help: `${option.commands.join(', ')}: ${option.help}` }
      : option,
  );
  return [
    'Usage:',
    ...usage,
    '',
    'Commands:',
    ...commands,
    '',
    'Options:',
    ...optionLines(options),
    '',
    'Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.',
    'flowd help <command> shows one command with its options.',
  ].join('\n');
}

/** `flowd help <command>` and `flowd <command> --help`. */
export function commandHelp(keys: CommandKey[]): string {
  const options = OPTIONS.filter((option) => option.name === 'help' || keys.some((key) => option.commands.includes(key)));
  const usage = keys.map((key) => `  ${COMMANDS[key].usage}`);
  const about = keys.map((key) => (keys.length > 1 ? `${key}:\n${indent(COMMANDS[key].about, '  ')}` : COMMANDS[key].about));
  return [
    'Usage:',
    ...usage,
    '',
    ...about,
    '',
    'Options:',
    ...optionLines(options),
    '',
    'Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.',
  ].join('\n');
}

const COMMAND_NAMES = ['run', 'check', 'graph', 'plugins', 'events', 'workflow', 'init', 'help'];
const EXPECTED_COMMAND = `expected one of ${COMMAND_NAMES.join(', ')}`;
const EXPECTED_ACTION = 'expected workflow start <app.ini> <name> or workflow status <app.ini> <run id>';

/** The commands `flowd help <topic...>` is about. */
function helpTopic(topic: string[]): CommandKey[] {
  const [first, action] = topic;
  if (first === 'workflow') {
    if (action === undefined) return ['workflow start', 'workflow status'];
    if (action === 'start' || action === 'status') return [`workflow ${action}`];
    throw new ArgumentError(`help: workflow "${action}" is not an action${hint(action, ['start', 'status'])}; ${EXPECTED_ACTION}`, 'help');
  }
  if (first !== undefined && COMMAND_NAMES.includes(first)) return [first as CommandKey];
  throw new ArgumentError(`help: unknown command "${first}"${hint(first ?? '', COMMAND_NAMES)}; ${EXPECTED_COMMAND}`, 'help');
}

/** The command the positionals name, if they name one. */
function commandOf(positionals: string[]): CommandKey | undefined {
  const [first, action] = positionals;
  if (first === 'workflow') return action === 'start' || action === 'status' ? `workflow ${action}` : undefined;
  return first !== undefined && COMMAND_NAMES.includes(first) ? (first as CommandKey) : undefined;
}

/** The options with the same commands as `option`, for one message about all of them. */
function family(option: OptionSpec): string {
  const same = OPTIONS.filter((other) => other.commands.join() === option.commands.join()).map((other) => `--${other.name}`);
  const where =
    option.commands.length === 1 ? option.commands[0]! : `${option.commands.slice(0, -1).join(', ')} and ${option.commands.at(-1)!}`;
  const names = same.length === 1 ? `${same[0]!} is an option` : `${same.slice(0, -1).join(', ')} and ${same.at(-1)!} are options`;
  return `${names} of ${where}`;
}

type Token = ReturnType<typeof parseArgs>['tokens'] extends Array<infer T> | undefined ? T : never;
type OptionToken = Extract<Token, { kind: 'option' }>;

const LONG_NAMES = OPTIONS.map((option) => `--${option.name}`);
const isOptionLike = (text: string) =>
  OPTIONS.some(
    (option) =>
      text === `--${option.name}` || text.startsWith(`--${option.name}=`) || (option.short !== undefined && text === `-${option.short}`),
  );

/**
 * Parses the command line. Throws an ArgumentError that says, in one line,
 * what is wrong: an unknown command or option (with a did-you-mean), an
 * option of another command, a missing or bad value, a missing or extra
 * argument.
 * @example parse(['graph', 'app.ini', '--format', 'dot']) // { command: 'graph', file: 'app.ini', format: 'dot', ... }
 */
export function parse(argv: string[]): Invocation {
  const { tokens } = parseArgs({
    // `--inspect` takes an optional value, which parseArgs cannot express.
    args: argv.map((arg) => (arg === '--inspect' ? '--inspect=' : arg)),
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: Object.fromEntries(
      OPTIONS.map((option) => [option.name, { type: option.type, ...(option.short ? { short: option.short } : {}) }]),
    ),
  });
  const positionals = tokens.flatMap((token) => (token.kind === 'positional' ? [token.value] : []));
  const options = tokens.filter((token): token is OptionToken => token.kind === 'option');
  const [first, ...rest] = positionals;
  if (first === 'help') return { command: 'help', key: 'help', help: rest.length === 0 ? generalHelp() : commandHelp(helpTopic(rest)) };
  if (options.some((token) => token.name === 'help')) {
    let keys: CommandKey[] | undefined;
    try {
      keys = first === undefined ? undefined : helpTopic(positionals.slice(0, 2));
    } catch {
      // `flowd frob --help`: the whole help.
    }
    return { command: 'help', help: keys ? commandHelp(keys) : generalHelp() };
  }
  if (options.some((token) => token.name === 'version')) return { command: 'version' };
  const unknown = options.find((token) => !OPTIONS.some((spec) => spec.name === token.name));
  // Any one-letter option is one typo away from another: only long ones get a did-you-mean.
  if (unknown)
    throw new ArgumentError(
      `unknown option ${unknown.rawName}${unknown.rawName.startsWith('--') ? hint(unknown.rawName, LONG_NAMES) : ''}`,
      commandOf(positionals),
    );
  if (first === undefined) throw new ArgumentError(`no command given; ${EXPECTED_COMMAND}`);

  let key: CommandKey;
  let args: string[];
  if (first === 'workflow') {
    const [action, ...workflowArgs] = rest;
    if (action === undefined) throw new ArgumentError(`workflow needs an action; ${EXPECTED_ACTION}`);
    if (action !== 'start' && action !== 'status')
      throw new ArgumentError(`workflow "${action}" is not an action${hint(action, ['start', 'status'])}; ${EXPECTED_ACTION}`);
    key = `workflow ${action}`;
    args = workflowArgs;
  } else {
    if (!COMMAND_NAMES.includes(first))
      throw new ArgumentError(`unknown command "${first}"${hint(first, COMMAND_NAMES)}; ${EXPECTED_COMMAND}`);
    key = first as CommandKey;
    args = rest;
  }
  const fail = (message: string): never => {
    throw new ArgumentError(message, key);
  };

  const values = new Map<string, string | true>();
  for (const token of options) {
    // Unknown ones were turned away above.
    const option = OPTIONS.find((spec) => spec.name === token.name)!;
    if (!option.commands.includes(key)) fail(`${family(option)}, not of ${key}`);
    if (option.type === 'boolean') {
      if (token.value !== undefined) fail(`${token.rawName} takes no value; found ${token.rawName}=${token.value}`);
      values.set(option.name, true);
      continue;
    }
    if (token.value === undefined || (!token.inlineValue && isOptionLike(token.value)))
      fail(`${token.rawName} needs a value: ${token.rawName} ${option.value ?? '<value>'}`);
    values.set(option.name, token.value!);
  }
  const text = (name: string) => values.get(name) as string | undefined;

  if (key === 'init') {
    if (args.length > 1) fail(`unexpected argument "${args[1]}"; init takes one folder`);
    return { command: 'init', key, ...(args[0] !== undefined ? { folder: args[0] } : {}) };
  }
  if (key === 'help') return { command: 'help', key, help: generalHelp() };
  if (key === 'workflow start' || key === 'workflow status')
    return parseWorkflow(key, args, text, values.has('wait'), values.has('json'), fail);

  const [file, ...extra] = args;
  if (file === undefined) fail(`${key} needs an app's INI file: flowd ${key} app.ini`);
  if (extra.length > 0) {
    // `--inspect 9000`: parseArgs cannot take an optional value after a space.
    if (text('inspect') === '' && /^\d+$/.test(extra[0]!))
      fail(`unexpected argument "${extra[0]}"; to give --inspect a port, write --inspect=${extra[0]}`);
    fail(`unexpected argument "${extra[0]}"; ${key} takes one INI file`);
  }
  const invocation: Invocation = { command: key, key, file };
  const name = text('name');
  if (name !== undefined) {
    if (name.trim() === '') fail('--name: found ""; expected the app\'s name');
    invocation.name = name;
  }
  const workers = text('workers');
  if (workers !== undefined) {
    if (!/^\d+$/.test(workers) || Number(workers) < 1 || Number(workers) > 4096)
      fail(`--workers: found "${workers}"; expected a whole number from 1 to 4096`);
    invocation.workers = Number(workers);
  }
  const logLevel = text('log-level');
  if (logLevel !== undefined) {
    const level = logLevel.trim().toLowerCase();
    if (!(LOG_LEVELS as readonly string[]).includes(level))
      fail(`--log-level: found "${logLevel}"; expected one of ${LOG_LEVELS.join(', ')}${hint(level, LOG_LEVELS)}`);
    invocation.logLevel = level;
  }
  const inspect = text('inspect');
  if (inspect !== undefined) {
    if (inspect !== '' && (!/^\d+$/.test(inspect) || Number(inspect) > 65535))
      fail(`--inspect: found "${inspect}"; expected --inspect or --inspect=<port from 0 to 65535>`);
    invocation.inspect = inspect === '' ? true : Number(inspect);
  }
  const format = text('format');
  if (format !== undefined && !isGraphFormat(format))
    fail(`--format: found "${format}"; expected ${GRAPH_FORMATS.join(', ')}${hint(format, GRAPH_FORMATS)}`);
  if (key === 'graph') invocation.format = (format as GraphFormat | undefined) ?? 'mermaid';
  const out = text('out');
  if (out !== undefined) {
    if (out === '') fail('--out: found ""; expected a file to write');
    invocation.out = out;
  }
  if (values.has('json')) invocation.json = true;
  const reset = text('reset-cursor');
  const to = text('to');
  if (to !== undefined && reset === undefined)
    fail('--to says where --reset-cursor puts the cursor; give both: --reset-cursor NAME --to latest');
  if (reset !== undefined) {
    if (reset.trim() === '') fail('--reset-cursor: found ""; expected a plugin\'s name');
    if (invocation.json) fail('--json lists the plugins and --reset-cursor resets one cursor; give one of them');
    const where = (to ?? 'latest').trim().toLowerCase();
    if (where !== 'latest' && where !== 'earliest' && !(/^\d+$/.test(where) && Number(where) >= 1 && Number.isSafeInteger(Number(where))))
      fail(
        `--to: found "${to}"; expected latest, earliest or an event id (a whole number of at least 1)${hint(where, ['latest', 'earliest'])}`,
      );
    invocation.resetCursor = { plugin: reset, to: where === 'latest' || where === 'earliest' ? where : Number(where) };
  }
  const reactivate = text('reactivate');
  if (reactivate !== undefined) {
    if (reactivate.trim() === '') fail('--reactivate: found ""; expected a plugin\'s name');
    if (invocation.json) fail('--json lists the plugins and --reactivate retries one; give one of them');
    if (reset !== undefined) fail('--reset-cursor and --reactivate each act on a plugin; give one of them');
    invocation.reactivate = reactivate;
  }
  if (key === 'events') {
    const state = text('state');
    const id = text('id');
    if (state !== undefined && !EVENT_STATES.includes(state))
      fail(`--state: found "${state}"; expected one of ${EVENT_STATES.join(', ')}${hint(state, EVENT_STATES)}`);
    if (id !== undefined && id === '') fail('--id: found ""; expected an event\'s id');
    if (id !== undefined && state !== undefined) fail('--id shows one event and --state lists events in a state; give one of them');
    invocation.events = { ...(state !== undefined ? { state } : {}), ...(id !== undefined ? { id } : {}) };
  }
  return invocation;
}

/** `workflow start <app.ini> <name>` and `workflow status <app.ini> <id>`. */
function parseWorkflow(
  key: 'workflow start' | 'workflow status',
  args: string[],
  text: (name: string) => string | undefined,
  wait: boolean,
  json: boolean,
  fail: (message: string) => never,
): Invocation {
  const action = key === 'workflow start' ? 'start' : 'status';
  const [file, argument, ...extra] = args;
  const what = action === 'start' ? "a workflow's name" : "a run's id";
  if (file === undefined || argument === undefined)
    fail(`${key} needs an app's INI file and ${what}: flowd ${key} app.ini ${action === 'start' ? 'NAME' : 'ID'}`);
  if (extra.length > 0) fail(`unexpected argument "${extra[0]}"; ${key} takes an INI file and ${what}`);
  const timeout = text('timeout');
  let timeoutMs: number | undefined;
  if (timeout !== undefined) {
    if (!wait) fail('--timeout is how long --wait waits; give both: workflow start app.ini NAME --wait --timeout 5m');
    timeoutMs = parseDuration(timeout);
    if (timeoutMs === undefined || timeoutMs <= 0)
      fail(`--timeout: found "${timeout}"; expected a duration above zero such as 30s, 5m or 1h`);
  }
  const input = text('input');
  return {
    command: 'workflow',
    key,
    file,
    ...(json ? { json: true } : {}),
    workflow: {
      action,
      argument: argument!,
      ...(input !== undefined ? { input } : {}),
      ...(wait ? { wait: true } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    },
  };
}
