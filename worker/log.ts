/** Log levels in order of severity, as pino (the API's logger) names them. */
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LEVELS)[number];
export type Log = (level: LogLevel, msg: string, fields?: object) => void;

/**
 * A JSON-lines logger for the worker processes, writing entries at or above `threshold`
 * (`silent` writes nothing).
 */
export function createLog(threshold: string, base: Record<string, unknown> = {}): Log {
  const min = threshold === 'silent' ? Infinity : Math.max(0, LEVELS.indexOf(threshold as LogLevel));
  return (level, msg, fields = {}) => {
    if (LEVELS.indexOf(level) < min) return;
    process.stdout.write(JSON.stringify({ level, time: new Date().toISOString(), pid: process.pid, ...base, msg, ...fields }) + '\n');
  };
}
