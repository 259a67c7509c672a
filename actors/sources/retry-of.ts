/** The header a message republished by the inspector's retry carries: the flowd id of the event it retries. */
export const RETRY_OF_HEADER = 'x-flowd-retry-of';
