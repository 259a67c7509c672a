import path from 'node:path';
import fc from 'fast-check';
import { ROOT } from './cli.js';

/** A worker with no import of flowd, so it loads in the test process and in the CLI alike. */
const WORKER = path.join(ROOT, 'test/fixtures/workers/plain.mjs');

/** Every name Object.prototype has (constructor, toString, __proto__, hasOwnProperty, ...). */
export const PROTOTYPE_NAMES: readonly string[] = Object.getOwnPropertyNames(Object.prototype);

const SECTIONS = [
  'Flow',
  'Source',
  'Log',
  'Store',
  'Lock',
  'Api',
  'Inspector',
  'Plugins',
  'Workflow',
  'Email',
  'Transfer',
  'Destination',
  'Target',
  'Xml',
];
// Keys the runtime's sections read (never `[Log] file`, which `check` creates: a fuzzed path must not write outside the test's folder).
const KEYS = [
  'class',
  'app name',
  'workers',
  'queue size',
  'high watermark',
  'low watermark',
  'queue timeout',
  'execution timeout',
  'shutdown timeout',
  'retries',
  'retry backoff',
  'retry delay',
  'retry max delay',
  'order by',
  'type',
  'interval',
  'location',
  'recursive',
  'pattern',
  'move done to',
  'move failed to',
  'settle time',
  'rescan interval',
  'port',
  'path',
  'reply',
  'url',
  'destination',
  'mode',
  'level',
  'backend',
  'lease',
  'progress interval',
  'timeout',
  'username',
  'password',
  'format',
  'folder',
  'host',
  'tls',
  'from',
  'to',
  'user',
  'subject',
  'email interval',
];
const VALUES = [
  '',
  ' ',
  '0',
  '1',
  '-1',
  '-5 parsecs',
  'banana',
  '10s',
  '250ms',
  '5m',
  '1h',
  '1e309',
  '99999999999999999999',
  '1.5',
  'yes',
  'no',
  '${HOME}',
  '${NOT_SET_IN_THIS_TEST}',
  '${',
  '$$',
  '$',
  'in',
  './in',
  'in/done',
  '.',
  '..',
  '../../x',
  '/',
  'a/b',
  'a\\b',
  'interval',
  'files',
  'http',
  'stomp',
  'stdin',
  'event-log',
  'FILES',
  ' interval ',
  'xmlexport.XmlExport',
  'xmlimport.XmlImport',
  'metadatamapper.MetadataMapper',
  'flow.transfer.TransferPlugin',
  WORKER,
  `${WORKER}:Nothing`,
  './nowhere.ts',
  'module.Export',
  'stomp://127.0.0.1:1/queue/x',
  'http://127.0.0.1:1/',
  'redis://127.0.0.1:1',
  'file:///tmp/x/',
  'ftp://u:p@127.0.0.1:1/x/',
  'headers.id',
  'a..b',
  '[',
  ']',
  '=',
  ':',
  '#',
  ';',
  '\t',
  '\u0000',
  'é',
  '😀',
  'line\\nbreak',
];

/** A line break: LF, CR LF or a lone CR (configparser reads each as one). */
const EOL = fc.constantFrom('\n', '\r\n', '\r');

/** One name from the pools, an Object.prototype name, or random text. */
const token = (pool: readonly string[]) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...pool) },
    { weight: 2, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  );

/** A configuration that compiles, in one of a few shapes. */
const goodConfig = fc.oneof(
  fc
    .record({ interval: fc.constantFrom('10s', '1m', '250ms'), workers: fc.integer({ min: 1, max: 8 }) })
    .map(({ interval, workers }) => [
      '[Flow]',
      `class = ${WORKER}`,
      `workers = ${workers}`,
      '[Source]',
      'type = interval',
      `interval = ${interval}`,
    ]),
  fc.constantFrom(
    [
      '[Flow]',
      `class = ${WORKER}`,
      'app name = fuzzed',
      '[Source]',
      'type = files',
      'location = in',
      'move done to = done',
      'move failed to = failed',
    ],
    ['[Flow]', `class = ${WORKER}`, 'retries = 2', 'order by = headers.id', '[Source]', 'type = stdin', '[Log]', 'level = warn'],
    ['[Flow]', 'class = xmlexport.XmlExport', '[Transfer]', 'progress interval = 2s', '[Destination]', 'username = u', 'timeout = 30s'],
    ['[Flow]', `class = ${WORKER}`, '[Source]', 'type = http', 'port = 0', '[Own Section]', 'Field.Name = value', '  continued'],
  ),
);

/** One change to a list of lines, as a user's typo or an attacker's edit. */
type Mutation = (lines: string[]) => string[];
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), token(VALUES)).map(([at, value]): Mutation => (lines) => {
    const i = at % lines.length;
    const line = lines[i]!;
    const eq = line.indexOf('=');
    return lines.with(i, eq > 0 ? `${line.slice(0, eq + 1)} ${value}` : line);
  }),
  fc.tuple(fc.nat(), token(KEYS)).map(([at, key]): Mutation => (lines) => {
    const i = at % lines.length;
    const line = lines[i]!;
    const eq = line.indexOf('=');
    return lines.with(i, eq > 0 ? `${key} ${line.slice(eq)}` : line);
  }),
  fc.tuple(fc.nat(), token(SECTIONS)).map(
    ([at, name]): Mutation =>
      (lines) =>
        lines.toSpliced(at % (lines.length + 1), 0, `[${name}]`),
  ),
  fc.tuple(fc.nat(), token(KEYS), token(VALUES), fc.constantFrom(' = ', '=', ': ', ' ', '  ')).map(
    ([at, key, value, separator]): Mutation =>
      (lines) =>
        lines.toSpliced(at % (lines.length + 1), 0, `${key}${separator}${value}`),
  ),
  fc.tuple(fc.nat(), fc.string({ maxLength: 20 })).map(
    ([at, text]): Mutation =>
      (lines) =>
        lines.toSpliced(at % (lines.length + 1), 0, text),
  ),
  fc.nat().map(
    (at): Mutation =>
      (lines) =>
        lines.toSpliced(at % lines.length, 1),
  ),
  fc.nat().map(
    (at): Mutation =>
      (lines) =>
        lines.toSpliced(at % lines.length, 0, lines[at % lines.length]!),
  ),
  fc
    .tuple(fc.nat(), fc.constantFrom('  ', '\t', '#', ';', '[', ']', '=', ':', '\u00a0', '\ufeff'))
    .map(([at, text]): Mutation => (lines) => {
      const i = at % lines.length;
      const line = lines[i]!;
      const cut = at % (line.length + 1);
      return lines.with(i, line.slice(0, cut) + text + line.slice(cut));
    }),
);

/** Random and mutated INI files: a good configuration with 0-4 mutations, or lines of random text. */
export function iniFile(): fc.Arbitrary<string> {
  const mutated = fc
    .tuple(goodConfig, fc.array(mutation, { maxLength: 4 }), EOL)
    .map(
      ([lines, mutations, eol]) => mutations.reduce((acc, mutate) => (acc.length === 0 ? acc : mutate(acc)), [...lines]).join(eol) + eol,
    );
  const random = fc
    .tuple(
      fc.array(fc.oneof(token([...SECTIONS.map((s) => `[${s}]`), ...KEYS.map((k) => `${k} = x`)]), fc.string()), { maxLength: 8 }),
      EOL,
    )
    .map(([lines, eol]) => lines.join(eol));
  return fc.oneof({ weight: 8, arbitrary: mutated }, { weight: 1, arbitrary: random });
}

/** Each Object.prototype name as a section, as a key of each kind of section, and as each value that names something. */
export function prototypeNameCases(): string[] {
  const flow = `[Flow]\nclass = ${WORKER}\n`;
  const source = '[Source]\ntype = interval\n';
  return PROTOTYPE_NAMES.flatMap((name) => [
    `${flow}${source}[${name}]\nx = 1\n`,
    `${flow}${source}[${name}]\n${name} = ${name}\n`,
    `${flow}${name} = 1\n${source}`,
    `${flow}${source}${name} = 1\n`,
    `${flow}${source}[Log]\n${name} = 1\n`,
    `${flow}${source}[Own]\n${name} = ${name}\n`,
    `${flow}[Source]\ntype = ${name}\n`,
    `[Flow]\nclass = ${name}\n${source}`,
    `[Flow]\nclass = ${WORKER}:${name}\n${source}`,
    `[Flow]\napp name = ${name}\nclass = ${WORKER}\n${source}`,
    `${flow}order by = ${name}\n${source}`,
    `${flow}${source}[Log]\nlevel = ${name}\n`,
    `${flow}${source}[Store]\nbackend = ${name}\n`,
    `${flow}${source}[Lock]\nbackend = ${name}\n`,
    `${flow}${source}[Api]\n${name} = 1\n`,
    `[Flow]\nclass = xmlexport.XmlExport\n[Transfer]\n${name} = 1\n[Destination]\n${name} = ${name}\n`,
    `[Flow]\nclass = xmlexport.XmlExport\n[Destination]\ntimeout = ${name}\n`,
  ]);
}

/**
 * 'ok' when `flowd check` exited 0, or 2 naming the file, with no stack trace;
 * otherwise what went wrong.
 */
export function checkOutcome(code: number | null, output: string, file: string): string {
  if (/^\s+at .+[:(]/m.test(output)) return `a stack trace (exit ${code})`;
  if (code === 0) return 'ok';
  if (code !== 2) return `exit ${code}`;
  if (!output.includes(file)) return 'exit 2 without the file named';
  return 'ok';
}
