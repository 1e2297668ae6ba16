import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { dump } from 'js-yaml';
import { Registry } from 'prom-client';
import request from 'supertest';
import { startScaler, type RunningScaler } from '../../src/bootstrap.js';
import { capturingLogger, ECHO, eventually, testConfig } from '../support/harness.js';

/*
 * Acceptance (issue 10, item 4) on the local provider: the stack file's `policies:` edited
 * while the gateway runs. min_workers 1 -> 2 scales the function to 2; an invalid value then
 * changes nothing and says why, naming the key, in the log and in /system/events.
 */

const REF = { name: 'echo', namespace: 'openfaas-fn' };
let dir: string;
let stack: string;
let s: RunningScaler;
let lines: Array<Record<string, unknown>>;

/** Writes the stack file as an editor does: a new file renamed over the old one. */
function writePolicy(policy: Record<string, string | number>): void {
  const body = {
    version: 1.0,
    functions: { echo: { command: [process.execPath, ECHO], labels: { 'com.openfaas.scale.policy': 'get-start-configmap' } } },
    policies: { 'get-start-configmap': policy },
  };
  const next = join(dir, 'stack.yml.new');
  writeFileSync(next, dump(body));
  renameSync(next, stack);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'named-policies-'));
  stack = join(dir, 'stack.yml');
  writePolicy({ min_workers: 1, max_workers: 5, max_queue_size: 2, scale_up_step: 1, max_idle_time: 60 });
  const captured = await capturingLogger();
  lines = captured.lines;
  s = await startScaler(testConfig(stack, { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' }), {
    logger: captured.logger, registry: new Registry(), readFile: (p) => readFileSync(p, 'utf8'),
  });
}, 30_000);

afterAll(async () => {
  await s.close();
});

describe('named policies in the stack file, edited while the gateway runs', () => {
  it('the function starts with the policy\'s settings', async () => {
    const state = await s.provider.getReplicas(REF);
    expect(state.desired).toBe(1);
    expect(state.labels).toMatchObject({ 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '5', 'com.openfaas.scale.max-queue': '2', 'com.openfaas.scale.idle-timeout': '60' });
  });

  it('min_workers 1 -> 2 scales the function to 2 ready replicas within a tick of the edit', async () => {
    const edited = Date.now();
    writePolicy({ min_workers: 2, max_workers: 5, max_queue_size: 2, scale_up_step: 1, max_idle_time: 60 });
    await eventually(async () => (await s.provider.getReplicas(REF)).desired === 2, 5_000);
    const askedMs = Date.now() - edited;
    // The poll fallback alone reads the file within 1 s (the policy loop's tick); fs.watch is sooner.
    expect(askedMs).toBeLessThan(1_500);
    await eventually(async () => (await s.provider.getReplicas(REF)).ready === 2, 10_000);
    const event = s.engine.events.query({ function: 'echo' }).find((e) => e.action === 'scale_up' && e.source === 'policy');
    expect(event).toMatchObject({ from: 1, to: 2, reason: 'reset-to-min' });
  });

  it('an invalid value is refused: still 2, a warning naming the key in the log and in /system/events', async () => {
    writePolicy({ min_workers: 'two', max_workers: 5, max_queue_size: 2, scale_up_step: 1, max_idle_time: 60 });
    await eventually(() => s.engine.events.query().some((e) => e.action === 'policy_invalid'), 5_000);
    const res = await request(s.adminServer).get('/system/events?function=echo');
    expect(res.status).toBe(200);
    const refused = (res.body as Array<{ action: string; reason: string; inputs: { keys: string[]; problems: string[]; policy: string } }>).find((e) => e.action === 'policy_invalid');
    expect(refused).toMatchObject({ reason: 'kept-last-good', inputs: { policy: 'get-start-configmap', keys: ['min_workers'] } });
    expect(refused?.inputs.problems.join(' ')).toContain('min_workers');
    expect(lines.find((l) => l['message'] === 'named policy invalid')).toMatchObject({ level: 'warn', keys: ['min_workers'] });
    const state = await s.provider.getReplicas(REF);
    expect([state.desired, state.labels['com.openfaas.scale.min']]).toEqual([2, '2']);
  });

  it('a stack file that no longer parses keeps the last good policies and says why', async () => {
    writeFileSync(stack, 'policies: [not, a, map\n');
    await eventually(() => lines.some((l) => l['message'] === 'stack file policies invalid, last good kept'), 5_000);
    expect((await s.provider.getReplicas(REF)).labels['com.openfaas.scale.min']).toBe('2');
  });
});
