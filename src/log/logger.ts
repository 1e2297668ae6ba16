import winston from 'winston';

export type Logger = winston.Logger;

/**
 * Creates the root logger. JSON lines by default; `text` is for humans at a terminal;
 * `silent` discards everything (tests).
 */
export function createLogger(options: { level: 'error' | 'warn' | 'info' | 'debug' | 'silent'; format: 'json' | 'text' }): Logger {
  const format =
    options.format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(winston.format.timestamp(), winston.format.simple());
  return winston.createLogger({
    level: options.level === 'silent' ? 'error' : options.level,
    silent: options.level === 'silent',
    format,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}

/** A logger that writes nothing; for tests. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
