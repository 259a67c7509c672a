import type { AppSections } from '../../../actors/workers/worker.js';
import { appSectionReader, hint, SectionReader } from '../../kernel/section-reader.js';
import type { DictionaryCache } from '../../toolkit/dictionary.js';
import { ConfigError, ExpressionError, FlowdError, ParseError } from '../../kernel/errors.js';
import { compileMultiParserSettings, MultiParser, type MultiParserType } from '../../toolkit/multi-parser.js';
import { compileExpression, type CompiledExpression } from '../expressions.js';
import type { XmlLimits } from './document.js';
import { readXmlOffThread } from './parse-off-thread.js';
import type { XPathJob } from './xml-job.js';
import { compileXPath, type CompiledXPath } from './xpath-query.js';
import { checkMediaName, setField, UNSAFE_NAMES, type RecordData } from './record-data.js';
export type { RecordData } from './record-data.js';

/** A compiled `[Xml] format = custom` mapping. */
export interface CustomMapping {
  /** The `[Field:NAME]` names, in INI order. */
  readonly fields: readonly string[];
  /** The `[Transform]` (or `[Transforms]`) names, in the order they run. */
  readonly transforms: readonly string[];
  /** The target field names of `[Mapping]` (or `[Vdf]`). */
  readonly targets: readonly string[];
  /** `[Vdf] form` (quotes removed, as Flow's eval did); undefined with `[Mapping]` or without a form. */
  readonly form: string | undefined;
  /**
   * Reads one XML file: each field's XPath (the string value of the first
   * node it finds; nothing found, or empty text for a type other than
   * string, leaves it undefined), converted by its MultiParser (`''` and a
   * dictionary term the feed does not have are `null`); then the
   * transforms in order; then the mapping. A target whose value is
   * undefined is left out of `fields`. As in Flow, a field or transform
   * named `asset_id` names the record (its `id`) and one named
   * `media_filename` its media, and `xml_filename` (the file's name) can be
   * read by any transform. Rejects with FlowdError ERR_XML
   * (the file: not well-formed, a value that does not convert, a bad media
   * name), ExpressionError (a transform failed), HttpError (a dictionary
   * could not be fetched); each message starts with `where`.
   */
  read(text: string, where: string, options?: CustomReadOptions): Promise<RecordData>;
}

/** Options of one `CustomMapping.read`. */
export interface CustomReadOptions {
  signal?: AbortSignal;
  /**
   * Hears of a dictionary term its feed does not have: the field is `null`
   * and one warning names the field, the term and the feed (Flow stored None
   * and logged it). @default no warning
   */
  log?: { warn(fields: object, message: string): void };
  /** What `xml_filename` reads, as in Flow. @default where */
  fileName?: string;
}

/** Where INI keys were written, for error messages: `lines.get(section)?.get(key)`. */
export type SectionLines = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** What a test or the app may put in place of the defaults. */
export interface CustomMappingOptions {
  /** Where dictionaries are fetched and cached. @default sharedDictionaries */
  dictionaries?: DictionaryCache;
  /** The clock for date formats without a year. @default Date.now */
  now?: () => number;
  /** Limits of the XML reader. @default { maxBytes: 10 MiB, maxDepth: 256 } */
  limits?: XmlLimits;
  /** A text over this many bytes is parsed, and its XPaths evaluated, in a worker thread (readXmlOffThread). @default 0 (always) */
  inlineBytes?: number;
}

interface FieldPlan {
  name: string;
  query: CompiledXPath;
  parser: MultiParser<MultiParserType>;
  type: MultiParserType;
}

const NAME = /^[A-Za-z_$][\w$]*$/;
const FIELD_PREFIX = 'Field:';
/** Flow's names: the field or transform that names the record, the one that names its media, and the file's name. */
const ASSET_ID = 'asset_id';
const MEDIA_FILENAME = 'media_filename';
const XML_FILENAME = 'xml_filename';

/**
 * Compiles the sections of `[Xml] format = custom` (see the seed):
 * `[Namespaces]` (prefix = URI), `[Field:NAME]` (`xpath`; `type`,
 * `format`, `default timezone`, `source` as MultiParser takes them),
 * `[Transform]` or its alias `[Transforms]` (Flow's code spelling; name =
 * expression, run in INI order, reading fields, earlier transforms and
 * `xml_filename`), `[Mapping]` (target field = name) or its alias `[Vdf]`
 * (the same, plus `form`, quoted or not), and `[Xml]`'s `id` and `media`
 * XPaths, or, as in Flow, a field or transform named `asset_id` (the
 * record's id) and `media_filename` (its media file); not both.
 * Every XPath, type, expression and name is checked here: a ConfigError
 * names the file, section and key (and line, when `lines` has it).
 * `[Xml] format` is not read here: the app reads it.
 * @example
 * const mapping = compileCustomMapping(ctx.config, 'import.ini');
 * const record = await mapping.read(await readFile(path, 'utf8'), path); // { id, fields: { 'asset.title': ... }, media }
 */
export function compileCustomMapping(
  sections: AppSections,
  file: string,
  lines?: SectionLines,
  options: CustomMappingOptions = {},
): CustomMapping {
  const readerOf = (section: string): SectionReader =>
    new SectionReader(new Map(Object.entries(sections[section] ?? {})), {
      file,
      section,
      ...(lines?.get(section) ? { lines: lines.get(section)! } : {}),
    });
  // Settings sections ([Xml], [Field:NAME]) take their keys in any case, as configparser does.
  const settingsOf = (section: string): SectionReader =>
    appSectionReader(sections[section], { file, section, ...(lines?.get(section) ? { lines: lines.get(section)! } : {}) });

  const namespaces = compileNamespaces(sections, readerOf);
  const xml: SectionReader = settingsOf('Xml');
  const idQuery = optionalQuery(xml, 'id', namespaces);
  const mediaQuery = optionalQuery(xml, 'media', namespaces);

  const fields: FieldPlan[] = [];
  for (const section of Object.keys(sections)) {
    if (!section.startsWith(FIELD_PREFIX)) continue;
    const reader: SectionReader = settingsOf(section);
    const name = section.slice(FIELD_PREFIX.length);
    checkName(name, { file, section }, 'field');
    const xpathText = reader.string('xpath');
    if (xpathText === undefined) reader.fail('xpath', 'is missing; expected the XPath of the value, such as /asset/title');
    const query = compileXPath(xpathText, namespaces, (problem) => reader.fail('xpath', problem));
    const settings = compileMultiParserSettings(reader);
    reader.finish();
    const parser = new MultiParser({
      ...settings,
      ...(options.dictionaries ? { dictionaries: options.dictionaries } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    fields.push({ name, query, parser, type: settings.type });
  }

  const { transforms, names } = compileTransforms(
    sections,
    file,
    lines,
    fields.map((field) => field.name),
  );
  const mapping = compileTargets(sections, file, lines, names);
  const flowId = names.includes(ASSET_ID);
  const flowMedia = names.includes(MEDIA_FILENAME);
  if (idQuery && flowId)
    xml.fail('id', `is set, and a field or transform is named ${ASSET_ID}, which names the record too (as in Flow); expected one of them`);
  if (mediaQuery && flowMedia)
    xml.fail(
      'media',
      `is set, and a field or transform is named ${MEDIA_FILENAME}, which names the media too (as in Flow); expected one of them`,
    );

  return {
    fields: fields.map((field) => field.name),
    transforms: transforms.map(([name]) => name),
    targets: mapping.targets.map(([target]) => target),
    form: mapping.form,
    async read(text, where, readOptions = {}) {
      // Every XPath is evaluated where the document is parsed (maybe a worker thread); their strings come back.
      const queries: XPathJob[] = fields.map((field) => ({ source: field.query.source, label: fieldLabel(field), limit: 1 }));
      if (idQuery) queries.push({ source: idQuery.source, label: '[Xml] "id"', limit: 1 });
      if (mediaQuery) queries.push({ source: mediaQuery.source, label: '[Xml] "media"' });
      const values = await readXmlOffThread(
        text,
        where,
        { kind: 'xpath', namespaces, queries },
        {
          ...(options.limits ? { limits: options.limits } : {}),
          ...(readOptions.signal ? { signal: readOptions.signal } : {}),
          // XPath over many siblings is slow (xpath sorts node-sets), even in a small file: always a thread, unless told.
          inlineBytes: options.inlineBytes ?? 0,
        },
      );
      const scope: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      setField(scope, XML_FILENAME, readOptions.fileName ?? where);
      for (const [i, field] of fields.entries()) setField(scope, field.name, await readField(field, values[i]![0], where, readOptions));
      for (const [name, expression] of transforms) {
        try {
          setField(scope, name, expression.evaluate(scope));
        } catch (error) {
          if (error instanceof ExpressionError) throw new ExpressionError(`${where}: ${error.message}`, { cause: error });
          throw error;
        }
      }
      const record: RecordData = { fields: {}, media: [] };
      for (const [target, name] of mapping.targets) {
        const value = scope[name];
        if (value !== undefined) setField(record.fields, target, value);
      }
      if (mapping.form !== undefined) record.form = mapping.form;
      if (idQuery) {
        const id = values[fields.length]![0]?.trim();
        if (id) record.id = id;
      }
      if (flowId) {
        const id = flowRecordId(scope[ASSET_ID], where);
        if (id !== undefined) record.id = id;
      }
      if (flowMedia) {
        const value = scope[MEDIA_FILENAME];
        for (const name of Array.isArray(value) ? value : [value]) {
          if (name === null || name === undefined || (typeof name === 'string' && name.trim() === '')) continue;
          if (typeof name !== 'string')
            throw new FlowdError('ERR_XML', `${where}: ${MEDIA_FILENAME} is ${describeValue(name)}; expected the media's file name`);
          const checked = checkMediaName(name, `${where}: ${MEDIA_FILENAME}`);
          if (!record.media.includes(checked)) record.media.push(checked);
        }
      }
      if (mediaQuery) {
        const seen = new Set<string>();
        for (const raw of values[values.length - 1]!) {
          if (raw.trim() === '') continue;
          const name = checkMediaName(raw, `${where}: [Xml] "media"`);
          if (!seen.has(name)) record.media.push(name);
          seen.add(name);
        }
      }
      return record;
    },
  };
}

function checkName(name: string, where: { file: string; section: string; key?: string; line?: number | undefined }, what: string): void {
  if (!NAME.test(name))
    throw new ConfigError(
      where,
      `${what} name "${name}" is not a name an expression can read; expected letters, digits and _ (not starting with a digit), such as air_date`,
    );
  if (UNSAFE_NAMES.has(name)) throw new ConfigError(where, `${what} name "${name}" is not allowed`);
}

function compileNamespaces(sections: AppSections, readerOf: (section: string) => SectionReader): Record<string, string> {
  const namespaces: Record<string, string> = Object.create(null) as Record<string, string>;
  const reader: SectionReader = readerOf('Namespaces');
  for (const prefix of Object.keys(sections['Namespaces'] ?? {})) {
    const uri = reader.string(prefix);
    if (!/^[A-Za-z_][\w.-]*$/.test(prefix) || prefix.toLowerCase().startsWith('xml') || UNSAFE_NAMES.has(prefix)) {
      reader.fail(prefix, `"${prefix}" is not a namespace prefix; expected a short name such as dc or mrss (not starting with xml)`);
    }
    if (uri === undefined) reader.fail(prefix, 'is empty; expected the namespace URI, such as http://purl.org/dc/elements/1.1/');
    setField(namespaces, prefix, uri);
  }
  return namespaces;
}

function optionalQuery(reader: SectionReader, key: string, namespaces: Record<string, string>): CompiledXPath | undefined {
  const text = reader.string(key);
  return text === undefined ? undefined : compileXPath(text, namespaces, (problem) => reader.fail(key, problem));
}

function sectionWhere(file: string, lines: SectionLines | undefined, section: string, key: string) {
  return { file, section, key, line: lines?.get(section)?.get(key) };
}

/** The transforms in order, and every name the mapping may read. */
function compileTransforms(
  sections: AppSections,
  file: string,
  lines: SectionLines | undefined,
  fieldNames: string[],
): { transforms: Array<[string, CompiledExpression]>; names: string[] } {
  const transforms: Array<[string, CompiledExpression]> = [];
  const available = new Set([XML_FILENAME, ...fieldNames]);
  if (sections['Transform'] !== undefined && sections['Transforms'] !== undefined)
    throw new ConfigError({ file, section: 'Transforms' }, '[Transforms] is an alias of [Transform]; expected one of them, found both');
  const section = sections['Transforms'] !== undefined ? 'Transforms' : 'Transform';
  for (const [name, source] of Object.entries(sections[section] ?? {})) {
    const where = sectionWhere(file, lines, section, name);
    checkName(name, where, 'transform');
    const expression = compileExpression(source, where);
    for (const used of expression.names) {
      if (!available.has(used)) {
        const later = Object.hasOwn(sections[section] ?? {}, used)
          ? ' (a transform may only read fields and transforms above it)'
          : hint(used, [...available]);
        throw new ConfigError(
          where,
          `expression ${JSON.stringify(source)} reads "${used}", which is neither a [Field:NAME], an earlier transform nor ${XML_FILENAME}${later}`,
        );
      }
    }
    available.add(name);
    transforms.push([name, expression]);
  }
  return { transforms, names: [...available] };
}

function compileTargets(
  sections: AppSections,
  file: string,
  lines: SectionLines | undefined,
  known: string[],
): { targets: Array<[string, string]>; form: string | undefined } {
  const hasMapping = sections['Mapping'] !== undefined;
  const hasVdf = sections['Vdf'] !== undefined;
  if (hasMapping && hasVdf)
    throw new ConfigError({ file, section: 'Vdf' }, '[Vdf] is an alias of [Mapping]; expected one of them, found both');
  if (!hasMapping && !hasVdf)
    throw new ConfigError(
      { file, section: 'Mapping' },
      'is missing; expected [Mapping] (or its alias [Vdf]) with lines such as asset.title = title',
    );
  const section = hasMapping ? 'Mapping' : 'Vdf';
  let form: string | undefined;
  const targets: Array<[string, string]> = [];
  for (const [target, raw] of Object.entries(sections[section]!)) {
    const where = sectionWhere(file, lines, section, target);
    const name = raw.trim();
    if (section === 'Vdf' && target === 'form') {
      form = formName(name, where);
      continue;
    }
    if (UNSAFE_NAMES.has(target)) throw new ConfigError(where, `target field "${target}" is not allowed`);
    if (!known.includes(name)) {
      throw new ConfigError(
        where,
        `found "${raw}"; expected the name of a [Field:NAME], a [Transform] or ${XML_FILENAME}${hint(name, known)}${known.length === 1 ? ' (there are none)' : ''}`,
      );
    }
    targets.push([target, name]);
  }
  return { targets, form };
}

/** `[Vdf] form`: a name, or the same quoted (`"hubitem"`), which Flow's eval turned into the name. */
function formName(text: string, where: ReturnType<typeof sectionWhere>): string {
  const quoted = /^(["'])(.*)\1$/.exec(text);
  const name = quoted ? quoted[2]!.trim() : text;
  if (name === '') throw new ConfigError(where, "is empty; expected the form's name, such as hubitem");
  if (!/^[\w.:-]+$/.test(name))
    throw new ConfigError(
      where,
      `found ${JSON.stringify(text)}; expected the form's name, such as hubitem or "hubitem" (not an expression)`,
    );
  return name;
}

/** The record id `asset_id` gave: text or a whole number; nothing (null, '') leaves the file's name. */
function flowRecordId(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new FlowdError('ERR_XML', `${where}: ${ASSET_ID} is ${describeValue(value)}; expected text or a whole number naming the record`);
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'string' ? `text ${JSON.stringify(value)}` : `${typeof value} ${JSON.stringify(value)}`;
}

function fieldLabel(field: FieldPlan): string {
  return `[${FIELD_PREFIX}${field.name}] "xpath"`;
}

/** Converts the string value a field's XPath found (`raw`) with its MultiParser. */
async function readField(field: FieldPlan, raw: string | undefined, where: string, options: CustomReadOptions): Promise<unknown> {
  const label = fieldLabel(field);
  if (raw === undefined || (field.type !== 'string' && raw.trim() === '')) return undefined;
  const onMissingTerm = (term: string, source: string): void =>
    options.log?.warn(
      { field: field.name, term, dictionary: source },
      `${where}: [${FIELD_PREFIX}${field.name}]: no term "${term}" in the dictionary at ${source}; the field is null`,
    );
  try {
    return await field.parser.convert(raw, { ...(options.signal ? { signal: options.signal } : {}), onMissingTerm });
  } catch (error) {
    if (error instanceof ParseError)
      throw new FlowdError('ERR_XML', `${where}: ${label} ${field.query.source}: ${error.message}`, { cause: error });
    throw error;
  }
}
