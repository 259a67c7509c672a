/** The serialisable form of an error. */
export interface ErrorInfo {
  code: string;
  message: string;
}

/**
 * Reduces anything thrown to `{ code, message }`; `code` defaults to
 * ERR_WORKER_FAILED. An Error's stack rides along as a non-enumerable
 * `stack` (the inspector's journal shows it): JSON, logs, settlements and
 * messages to threads never carry it.
 */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const info = { code: typeof code === 'string' ? code : 'ERR_WORKER_FAILED', message: error.message };
    if (typeof error.stack === 'string') Object.defineProperty(info, 'stack', { value: error.stack, enumerable: false });
    return info;
  }
  return { code: 'ERR_WORKER_FAILED', message: String(error) };
}
