import cluster from 'node:cluster';
import { Registry } from 'prom-client';
import { startScaler, type RunningScaler } from './bootstrap.js';
import { GATEWAY_USAGE, parseGatewayArgs } from './bootstrap/args.js';
import { linkWorker, runPrimary, workerConfig, workerIndex } from './bootstrap/workers.js';
import { readTextFile, type ReadFile } from './config/files.js';
import { loadConfig, type Config } from './config/index.js';
import { isAppError } from './errors.js';
import { createLogger } from './log/logger.js';

// Every caller passes its limit (maxFileBytes); the reader stops one byte past it.
const readFile: ReadFile = (path, maxBytes) => readTextFile(path, maxBytes ?? Number.MAX_SAFE_INTEGER);

const args = parseGatewayArgs(process.argv.slice(2));
if (args.kind === 'help') {
  process.stdout.write(GATEWAY_USAGE);
  process.exit(0);
}
if (args.kind === 'usage-error') {
  process.stderr.write(`alert-scaler: ${args.message}\n${GATEWAY_USAGE}`);
  process.exit(2);
}

/** Several workers (config `workers`): this process only forks and watches them (src/bootstrap/workers.ts). */
function primary(config: Config): void {
  const running = runPrimary(config, createLogger({ level: config.logLevel, format: config.logFormat }));
  // The first signal is passed on as a graceful stop, a second as an immediate exit. (A
  // terminal's Ctrl-C reaches the workers too: a worker counts the signals it gets itself.)
  process.on('SIGTERM', () => running.stop());
  process.on('SIGINT', () => running.stop());
  void running.done.then((code) => process.exit(code));
}

/** One gateway: the whole process, or one cluster worker among several. */
async function gateway(config: Config): Promise<void> {
  const index = workerIndex();
  /** Set once started; a stop the primary passed on before then runs at that moment. */
  const started: { running?: RunningScaler } = {};
  let stopAsked = false;
  let signals = 0;
  const stop = (): void => {
    stopAsked = true;
    void started.running?.close().then(() => process.exit(0));
  };
  const exitNow = (why: string): void => {
    // No drain this time. process.exit runs the local provider's 'exit' hook, which
    // SIGKILLs every replica's process group before the process is gone.
    process.stderr.write(`alert-scaler: ${why}, exiting now\n`);
    process.exit(1);
  };
  const registry = index === null ? undefined : new Registry();
  const link = registry === undefined ? undefined : linkWorker(registry, { onStop: stop, onExitNow: () => exitNow('second stop from the primary') });
  started.running = await startScaler(index === null ? config : workerConfig(config, index), {
    readFile,
    ...(registry === undefined ? {} : { registry }),
    ...(link === undefined ? {} : { scrape: () => link.scrape() }),
  });
  if (stopAsked) stop();
  const shutdown = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) exitNow(`second ${signal}`);
    stop();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

try {
  const config = loadConfig({ ...process.env, ...args.env }, readFile);
  if (config.workers > 1 && cluster.isPrimary) primary(config);
  else await gateway(config);
} catch (err) {
  if (isAppError(err, 'CONFIG_INVALID')) {
    process.stderr.write(`alert-scaler: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`alert-scaler: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
