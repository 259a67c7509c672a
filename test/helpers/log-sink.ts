import pino, { type Logger } from 'pino';

/** A pino logger whose lines are kept as objects, for tests that check what was logged. */
export function logSink(level: pino.Level = 'debug'): {
  logger: Logger;
  lines: Array<Record<string, unknown> & { msg: string; level: number }>;
  messages(): string[];
} {
  const lines: Array<Record<string, unknown> & { msg: string; level: number }> = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
  return { logger, lines, messages: () => lines.map((line) => line.msg) };
}
