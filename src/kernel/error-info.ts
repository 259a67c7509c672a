/** The serialisable form of an error. */
export interface ErrorInfo {
  code: string;
  message: string;
}

/** Reduces anything thrown to `{ code, message }`; `code` defaults to ERR_WORKER_FAILED. */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : 'ERR_WORKER_FAILED', message: error.message };
  }
  return { code: 'ERR_WORKER_FAILED', message: String(error) };
}
