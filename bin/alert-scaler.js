#!/usr/bin/env node
// Command-line entry point; the code is compiled to dist/ by `npm run build` (run by npm ci).
import { runCli } from '../dist/src/cli.js';

process.exitCode = await runCli(process.argv.slice(2), process.env, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
