import { FlowdError } from '../kernel/errors.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Checks a record id: letters, digits, `.`, `_`, `-`, starting with a letter or digit, at most 200 characters. */
export function checkRecordId(id: unknown, where: string): string {
  if (typeof id !== 'string' || !ID.test(id)) {
    throw new FlowdError(
      'ERR_RECORD',
      `${where}: record id ${JSON.stringify(id)} is not usable; expected letters, digits, ".", "_" or "-", starting with a letter or digit, at most 200 characters`,
    );
  }
  return id;
}

/** Checks a media name: a plain file name (no folder, not `.` or `..`). */
export function checkMediaName(name: unknown, where: string): string {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new FlowdError(
      'ERR_RECORD',
      `${where}: media name ${JSON.stringify(name)} is not usable; expected a plain file name without a folder`,
    );
  }
  return name;
}
