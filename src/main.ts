import { startScaler } from './bootstrap.js';
import { GATEWAY_USAGE, parseGatewayArgs } from './bootstrap/args.js';
import { readTextFile, type ReadFile } from './config/files.js';
import { loadConfig } from './config/index.js';
import { isAppError } from './errors.js';

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

try {
  const config = loadConfig({ ...process.env, ...args.env }, readFile);
  const running = await startScaler(config, { readFile });
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      // No drain this time. process.exit runs the local provider's 'exit' hook, which
      // SIGKILLs every replica's process group before the process is gone.
      process.stderr.write(`alert-scaler: second ${signal}, exiting now\n`);
      process.exit(1);
    }
    void running.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
} catch (err) {
  if (isAppError(err, 'CONFIG_INVALID')) {
    process.stderr.write(`alert-scaler: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`alert-scaler: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
