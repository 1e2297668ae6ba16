import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from '@jest/globals';
import { packageRoot } from '../../src/config/package-root.js';
import { formatTable, summaryJson } from '../../src/sim/report.js';
import { run } from './support.js';

/*
 * A trace of calls only gives the same bytes as before the simulator replayed async calls
 * (issue 21): the report, its JSON, the timeline and the replica samples of three policy
 * kinds (queue and concurrency read the async backlog) are compared with a file written by
 * the simulator before that change. UPDATE_GOLDEN=1 rewrites the file: only for a change
 * meant to alter sync runs, and say so in the commit.
 */

const STACK = `
simulate:
  alerting: openfaas
  tick: 500ms
functions:
  api:
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "6"
      com.openfaas.scale.concurrency: "2"
    simulate:
      start: uniform:1s-3s
      service: exp:100ms
  worker:
    labels:
      com.openfaas.scale.type: queue
      com.openfaas.scale.max-queue: "3"
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "5"
    simulate:
      start: 2s
      service: uniform:50ms-250ms
  conc:
    labels:
      com.openfaas.scale.type: concurrency
      com.openfaas.scale.target: "2"
      com.openfaas.scale.min: "0"
      com.openfaas.scale.max: "4"
    simulate:
      start: 500ms
      service: exp:150ms
`;

const GOLDEN = join(packageRoot(), 'test', 'sim', 'fixtures', 'sync-golden.txt');

/** 3,000 calls over 60 s, bursty, to the three functions in turn; every fifth with its own duration. */
function traceFile(): string {
  const rows = Array.from({ length: 3000 }, (_, i) => {
    const t = (i < 1500 ? i * 0.01 : 15 + (i - 1500) * 0.03).toFixed(3);
    return `${t},${['api', 'worker', 'conc'][i % 3]},${i % 5 === 0 ? String(20 + (i % 7) * 30) : ''}`;
  });
  const path = join(mkdtempSync(join(tmpdir(), 'alert-scaler-sim-sync-')), 'trace.csv');
  writeFileSync(path, `time,function,duration\n${rows.join('\n')}\n`);
  return path;
}

it('a trace of calls only gives the same report, JSON, timeline and samples, byte for byte, as before async calls were simulated', async () => {
  const parts: string[] = [];
  for (const [trace, durationMs] of [[traceFile(), undefined], ['builtin:poisson:20', 120_000]] as const) {
    const result = await run(STACK, trace, { seed: 3, sampleEveryMs: 1000, ...(durationMs === undefined ? {} : { durationMs }) });
    parts.push(formatTable({ ...result, stack: 'stack.yml', trace: trace.startsWith('builtin:') ? trace : 'trace.csv' }), JSON.stringify(summaryJson(result)), JSON.stringify(result.timeline), JSON.stringify(result.samples));
  }
  const text = `${parts.join('\n')}\n`;
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(GOLDEN, text);
  expect(text).toBe(readFileSync(GOLDEN, 'utf8'));
});
