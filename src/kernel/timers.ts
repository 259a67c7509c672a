/**
 * The longest delay a timer holds: setTimeout's limit, 2^31-1 ms (about 24.8
 * days). A longer one fires at once (with a warning), so longer waits are
 * chained, and durations in configuration are capped at it.
 */
export const MAX_TIMER_DELAY = 2_147_483_647;
