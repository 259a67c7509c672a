import { ConfigError } from '../kernel/errors.js';

/** One key's raw value and the line it was written on. */
export interface IniEntry {
  value: string;
  line: number;
  /** The key as written (the map's key is lower-cased): an app's own sections keep it, as field names are case-sensitive. */
  key: string;
}

/** A section: its keys (lower-cased, as configparser does) in file order. */
export interface IniSection {
  name: string;
  line: number;
  entries: Map<string, IniEntry>;
}

/** A parsed INI file: sections by name, in file order. */
export interface IniDocument {
  file: string;
  sections: Map<string, IniSection>;
}

/**
 * Parses INI text with the meaning Python's configparser gives a Flow file:
 * values are verbatim (no inline comments, no quote stripping, no booleans),
 * whole lines starting with `#` or `;` are comments, lines indented deeper than their key continue
 * the value above, `=` or `:` separates a key from its value, keys are
 * case-insensitive, and a key or section written twice is an error.
 *
 * One pass applies those rules line by line, so errors carry line numbers,
 * and keeps each value as written: nothing reinterprets quotes, dots,
 * backslashes or `__proto__` in a name or a value.
 */
export function parseIni(text: string, file: string): IniDocument {
  const sections = new Map<string, IniSection>();
  let current: IniSection | undefined;
  let last: { entry: IniEntry; indent: number; rawLines: string[] } | undefined;

  const flushLast = (): void => {
    if (!last) return;
    last.entry.value = last.rawLines.join('\n').trim();
    last = undefined;
  };

  // As configparser reading a file (universal newlines): CR LF, LF and a lone CR each end a line.
  const lines = text.split(/\r\n|\r|\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (/^\s*[#;]/.test(raw)) return;
    if (raw.trim() === '') {
      // configparser keeps blank lines inside a continued value; a trailing one is trimmed.
      if (last) last.rawLines.push('');
      return;
    }
    const indent = /^\s*/.exec(raw)![0].length;
    // As configparser: a line indented deeper than its key continues the value.
    if (last && indent > last.indent) {
      last.rawLines.push(raw.trim());
      return;
    }
    flushLast();
    const header = /^\s*\[([^\]]*)\]\s*(?:[;#].*)?$/.exec(raw);
    if (header) {
      const name = header[1]!.trim();
      if (name === '' || /[;#[]/.test(name)) {
        throw new ConfigError({ file, line }, `section header "${raw.trim()}" is not valid: expected [Name] without ; # [ ]`);
      }
      const earlier = sections.get(name);
      if (earlier) {
        throw new ConfigError(
          { file, line, section: name },
          `section is written twice (first on line ${earlier.line}); expected each section once`,
        );
      }
      current = { name, line, entries: new Map() };
      sections.set(name, current);
      return;
    }
    if (!current) {
      const problem = /^\s*\[/.test(raw)
        ? `"${raw.trim()}" is not a valid section header; expected [Name]`
        : `"${raw.trim()}" comes before any [Section]; expected a section header first`;
      throw new ConfigError({ file, line }, problem);
    }
    const separator = raw.search(/[=:]/);
    if (separator <= 0) {
      throw new ConfigError({ file, line, section: current.name }, `"${raw.trim()}" is not a setting; expected "key = value"`);
    }
    const written = raw.slice(0, separator).trim();
    const key = written.toLowerCase();
    if (key === '') {
      throw new ConfigError({ file, line, section: current.name }, `"${raw.trim()}" has no key; expected "key = value"`);
    }
    const duplicate = current.entries.get(key);
    if (duplicate) {
      throw new ConfigError(
        { file, line, section: current.name, key },
        `key is written twice in this section (first on line ${duplicate.line}); expected it once`,
      );
    }
    const entry: IniEntry = { value: '', line, key: written };
    current.entries.set(key, entry);
    last = { entry, indent, rawLines: [raw.slice(separator + 1).trim()] };
  });
  flushLast();
  return { file, sections };
}
