import { statSync } from 'node:fs';
import path from 'node:path';
import type { SectionReader } from '../kernel/section-reader.js';

/** `[Plugins]`, compiled. */
export interface PluginSettings {
  /** The plugin folders, absolute, in the order given (a name found twice: the first folder wins). */
  paths: string[];
  /** Reload a plugin whose file changes, add new files, remove deleted ones. @default true */
  reload: boolean;
  /** How often the folders are rescanned, whatever the file watcher said. @default 5000 */
  rescanIntervalMs: number;
}

/**
 * Compiles `[Plugins]`:
 * - `paths`: folders, comma-separated, relative to the INI file's folder (required)
 * - `reload = yes | no` (@default yes)
 * - `rescan interval` (@default 5s)
 */
export function compilePluginSettings(reader: SectionReader, dir: string): PluginSettings {
  const text = reader.string('paths');
  if (text === undefined || text.trim() === '')
    reader.fail('paths', 'is missing; expected one or more plugin folders, comma-separated, e.g. paths = ./plugins, /opt/flowd/plugins');
  const paths: string[] = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const folder = path.resolve(dir, part);
    let isFolder = false;
    try {
      isFolder = statSync(folder).isDirectory();
    } catch {
      reader.fail('paths', `found "${part}", but ${folder} does not exist; expected a folder of plugin modules`);
    }
    if (!isFolder) reader.fail('paths', `found "${part}", but ${folder} is not a folder; expected a folder of plugin modules`);
    if (!paths.includes(folder)) paths.push(folder);
  }
  return {
    paths,
    reload: reader.boolean('reload', true),
    rescanIntervalMs: reader.duration('rescan interval', 5000, { minMs: 100 }),
  };
}
