import type { AppSections } from '../../actors/workers/worker.js';
import { ConfigError } from '../kernel/errors.js';
import { hint } from '../kernel/section-reader.js';

/** The sections the runtime reads itself: never handed to an app, named here only for a did-you-mean. */
const RUNTIME_SECTIONS = ['Flow', 'Source', 'Log', 'Store', 'Lock', 'Api', 'Viz One', 'Inspector', 'Plugins', 'Workflow'];

/** What a built-in app reads: whole section names, and prefixes of sections such as `[Field:NAME]`. */
export interface KnownSections {
  /** The app, as `[Flow] class` names it (`xmlimport.XmlImport`), for the message. */
  app: string;
  sections: readonly string[];
  /** Section name prefixes (`Field:`). @default [] */
  prefixes?: readonly string[];
  /** Sections the app reads only in another setting, each with the reason (`[Field:*] only with [Xml] format = custom`). @default none */
  elsewhere?: (section: string) => string | undefined;
}

/**
 * Refuses a section a built-in app does not read. Flow ignored it without a
 * word; a misspelt `[Mapping]` or `[Transforms]` then changed nothing and
 * said nothing. A ConfigError names the file and the section, with a
 * did-you-mean among the app's sections and the runtime's.
 * @example
 * checkKnownSections(config, { app: 'metadatamapper.MetadataMapper', sections: ['Target', 'Mappings'] }, file);
 */
export function checkKnownSections(config: AppSections, known: KnownSections, file?: string): void {
  const prefixes = known.prefixes ?? [];
  for (const section of Object.keys(config)) {
    if (known.sections.includes(section) || prefixes.some((prefix) => section.startsWith(prefix))) continue;
    const reason = known.elsewhere?.(section);
    const expected = [...known.sections.map((name) => `[${name}]`), ...prefixes.map((prefix) => `[${prefix}...]`)].join(', ');
    throw new ConfigError(
      { file, section },
      reason ?? `is not a section ${known.app} reads${hint(section, [...known.sections, ...RUNTIME_SECTIONS])}; expected ${expected}`,
    );
  }
}
