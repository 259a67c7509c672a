import path from 'node:path';
import type { AppInfo, AppSections } from '../../actors/workers/worker.js';
import type { RequestSender } from '../toolkit/client/create-or-update.js';
import { appSectionReader, type SectionReader } from '../kernel/section-reader.js';
import { FolderTarget } from './folder-target.js';
import { HttpTarget } from './http-target.js';

export { checkMediaName, checkRecordId } from './record-names.js';

export type { AttachOptions, Target, TargetRecord, TargetWriteOptions, TargetWriteResult } from './target.js';
import type { Target } from './target.js';

/** `[Target]`, compiled and fully defaulted. */
export type TargetSettings =
  | {
      type: 'folder';
      /** `folder`: where `<id>.json` and `<id>.media/` go, absolute. @default `<state dir>/records` */
      folder: string;
    }
  | {
      type: 'http';
      /** `path`: the collection on the `[Api]` server; a record is `<path>/<id>`. @default '/records' */
      path: string;
      /** `media folder`: where media is moved before its `file://` URI is posted, absolute. @default `<state dir>/media` */
      mediaFolder: string;
    };

const FOLDER_KEYS = ['folder'];
const HTTP_KEYS = ['path', 'media folder'];

/**
 * Compiles `[Target]`: `type = folder` (default; `folder`) or `type = http`
 * (`path`, `media folder`, and the app's `[Api]` section for the server).
 * Relative folders are relative to the INI file's folder.
 * @example
 * const settings = compileTargetSettings(reader, app); // { type: 'folder', folder: '/app/.flowd/x/records' }
 */
export function compileTargetSettings(reader: SectionReader, app: Pick<AppInfo, 'dir' | 'stateDir'>): TargetSettings {
  const type = reader.choice('type', ['folder', 'http'] as const, 'folder');
  const other = type === 'folder' ? HTTP_KEYS : FOLDER_KEYS;
  for (const key of other)
    if (reader.has(key)) reader.fail(key, `is a setting of type = ${type === 'folder' ? 'http' : 'folder'}; this target is type = ${type}`);
  if (type === 'folder') {
    return { type, folder: path.resolve(app.dir, reader.string('folder', path.join(app.stateDir, 'records'))) };
  }
  const base = reader.string('path', '/records').replace(/\/+$/, '');
  if (!base.startsWith('/'))
    reader.fail('path', `found "${base}"; expected a path on the [Api] server starting with /, such as /api/records`);
  return { type, path: base, mediaFolder: path.resolve(app.dir, reader.string('media folder', path.join(app.stateDir, 'media'))) };
}

/**
 * Makes a target. An http target sends through `client` (the app's
 * `ctx.client`, configured by `[Api]`); it is read only for `type = http`.
 */
export function createTarget(settings: TargetSettings, client: () => RequestSender & { origin?: string }): Target {
  if (settings.type === 'folder') return new FolderTarget(settings.folder);
  const sender = client();
  return new HttpTarget(sender, settings.path, settings.mediaFolder, sender.origin ?? '');
}

/**
 * Reads `[Target]` from the app's sections and makes the target; the
 * section may be missing (a folder target under the state dir).
 */
export function targetFromConfig(
  ctx: { config: AppSections; app: AppInfo; readonly client: RequestSender & { origin?: string } },
  file?: string,
): { settings: TargetSettings; target: Target } {
  const settings = targetSettingsOf(ctx.config, ctx.app, file);
  return { settings, target: createTarget(settings, () => ctx.client) };
}

/** Compiles the app's `[Target]` section (missing: a folder target), rejecting unknown keys. */
export function targetSettingsOf(config: AppSections, app: Pick<AppInfo, 'dir' | 'stateDir'>, file?: string): TargetSettings {
  const reader = sectionReader(config, 'Target', file);
  const settings = compileTargetSettings(reader, app);
  reader.finish();
  return settings;
}

/** A SectionReader over one of the app's own sections (empty when missing). */
export function sectionReader(config: AppSections, section: string, file?: string): SectionReader {
  return appSectionReader(config[section], { file, section });
}
