#!/usr/bin/env node
// Command-line entry point; the code is compiled to dist/ by `npm run build` (run by npm ci).
import { runCli } from '../dist/src/cli.js';

// Ctrl-C ends `events --follow` cleanly (exit 0); a second one exits at once.
const stop = new AbortController();
process.once('SIGINT', () => {
  stop.abort();
  process.once('SIGINT', () => process.exit(130));
});

/** stdin as one buffer (the body of `invoke`); empty when stdin is a terminal. */
async function readStdin() {
  if (process.stdin.isTTY) return Buffer.alloc(0);
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks);
}

process.exitCode = await runCli(process.argv.slice(2), process.env, (s) => process.stdout.write(s), (s) => process.stderr.write(s), { readStdin, signal: stop.signal });
