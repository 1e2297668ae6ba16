import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { runCli, type CliIo } from '../../src/cli.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { closedPort } from '../support/processes.js';

/*
 * Every command against a running gateway with basic auth on (the CLI takes it from the
 * environment): table layout, -o json, an unreachable gateway (exit 1), bad usage (exit 2).
 */

const AUTH = { user: 'admin', password: 'cli-test-password' };
const ISO = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/;
const firing = JSON.parse(readFileSync(join(packageRoot(), 'examples', 'alerts', 'firing-single.json'), 'utf8')) as object;
const SLOW = { labels: { 'com.openfaas.scale.concurrency': '1' }, environment: { RESPONSE_DELAY_MS: '2000' } };
const COLD = {
  labels: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero-duration': '1h' },
  environment: { START_DELAY_MS: '1500' },
};

let s: RunningScaler;
let env: Record<string, string>;
beforeAll(async () => {
  s = await startTestScaler(
    { echo: { labels: { 'com.openfaas.scale.max': '10' } }, slow: SLOW, cold: COLD },
    { ALERT_SCALER_BASIC_AUTH_USER: AUTH.user, ALERT_SCALER_BASIC_AUTH_PASSWORD: AUTH.password, ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' },
  );
  env = { ALERT_SCALER_BASIC_AUTH_USER: AUTH.user, ALERT_SCALER_BASIC_AUTH_PASSWORD: AUTH.password, OPENFAAS_URL: s.adminUrl };
  // The replicas start after the gateway listens: wait until they serve (a loaded machine is slow).
  for (const name of ['echo', 'slow']) await eventually(async () => (await s.provider.getReplicas({ name, namespace: 'openfaas-fn' })).ready === 1, 20_000);
}, 40_000);
afterAll(async () => {
  await s.close();
});

/** Runs the CLI in process; its exit code, stdout and stderr. */
async function cli(argv: string[], io: CliIo = {}, environment: Record<string, string> = env): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, environment, (t) => (out += t), (t) => (err += t), io);
  return { code, out, err };
}

/** A call to the function that resolves with its status once answered. */
function call(name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${s.url}/function/${name}`, { method: 'POST', agent: false, timeout: 20_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end('x');
  });
}

describe('alert-scaler CLI against a running gateway', () => {
  it('list prints the faas-cli table, -o wide the states, -o json the API rows sorted by name', async () => {
    const table = await cli(['list']);
    expect(table.code).toBe(0);
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toBe('Function    Invocations    Replicas');
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['cold', 'echo', 'slow']);
    expect(lines[2]).toMatch(/^echo\s+\d+\s+1$/);
    const wide = await cli(['list', '-o', 'wide']);
    expect(wide.out.split('\n')[0]).toMatch(/^Function\s+Namespace\s+Invocations\s+Replicas\s+Available\s+Starting\s+Free\s+Busy\s+Draining\s+Queued$/);
    const json = await cli(['list', '-o', 'json']);
    const rows = JSON.parse(json.out) as Array<{ name: string; replicas: number; states: object }>;
    expect(rows.map((r) => r.name)).toEqual(['cold', 'echo', 'slow']);
    expect(rows[1]).toMatchObject({ name: 'echo', replicas: 1, states: { free: 1 } });
  });

  it('describe prints the function with its policy and queue; -o json is the API body', async () => {
    const text = await cli(['describe', 'echo']);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^Name: +echo$/m);
    expect(text.out).toMatch(/^Status: +Ready$/m);
    expect(text.out).toMatch(/^Policy: +rps \(min_replicas=1, max_replicas=10\)$/m);
    expect(text.out).toMatch(/^Queue: +0 \(NoReplica 0, WorkerBusy 0, oldest wait 0 ms\)$/m);
    expect(text.out).toContain(`URL:                 ${s.adminUrl}/function/echo`);
    const json = JSON.parse((await cli(['describe', 'echo', '-o', 'json'])).out) as Record<string, unknown>;
    expect(json).toMatchObject({ name: 'echo', replicas: 1, policy: { type: 'rps' } });
  });

  it('workers lists the replicas with the EverAI columns, BUSY while one serves, and --all the removed ones', async () => {
    const pending = call('slow');
    await eventually(async () => (await cli(['workers', 'slow'])).out.includes('BUSY'), 5000);
    const busy = await cli(['workers', 'slow']);
    const lines = busy.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+DETAIL_STATUS\s+CREATED_AT\s+DELETED_AT$/);
    expect(lines[1]).toMatch(new RegExp(`^slow-\\S+\\s+RUNNING\\s+BUSY\\s+${ISO.source}\\s+-$`));
    expect(await pending).toBe(200);
    const json = JSON.parse((await cli(['workers', 'slow', '-o', 'json'])).out) as Array<Record<string, unknown>>;
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ status: 'RUNNING', detailStatus: 'FREE', deletedAt: null, served: 1 });

    // Up to 2, then back to 1: the removed replica shows with --all.
    expect((await cli(['scale', 'echo', '2'])).code).toBe(0);
    await eventually(async () => (await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).ready === 2, 10_000);
    expect((await cli(['scale', 'echo', '1'])).code).toBe(0);
    await eventually(async () => (JSON.parse((await cli(['workers', 'echo', '--all', '-o', 'json'])).out) as Array<{ status: string }>).some((w) => w.status === 'DELETED'), 10_000);
    const all = await cli(['workers', 'echo', '--all']);
    expect(all.out).toMatch(new RegExp(`DELETED\\s+-\\s+${ISO.source}\\s+${ISO.source}`));
  }, 30_000);

  it('queue lists waiting requests with WorkerBusy while the replica is busy and NoReplica while the function wakes', async () => {
    const calls = [call('slow'), call('slow'), call('slow')];
    await eventually(async () => (JSON.parse((await cli(['queue', 'slow', '-o', 'json'])).out) as unknown[]).length === 2, 5000);
    const table = await cli(['queue', 'slow']);
    expect(table.out.trimEnd().split('\n').map((l) => l.replace(ISO, 'T'))).toEqual(['QUEUE_INDEX    CREATE_AT                   QUEUE_REASON', '0              T    WorkerBusy', '1              T    WorkerBusy', 'Async backlog: 0 stored calls not yet delivered']);
    const json = JSON.parse((await cli(['queue', 'slow', '-o', 'json'])).out) as Array<Record<string, unknown>>;
    expect(json.map((q) => [q['queueIndex'], q['queueReason']])).toEqual([
      [0, 'WorkerBusy'],
      [1, 'WorkerBusy'],
    ]);
    expect(String(json[0]?.['createAt'])).toMatch(ISO);

    const wake = call('cold');
    await eventually(async () => (await cli(['queue', 'cold'])).out.includes('NoReplica'), 5000);
    expect(await wake).toBe(200);
    expect(await Promise.all(calls)).toEqual([200, 200, 200]);
    expect((await cli(['queue', 'slow'])).out.trimEnd()).toBe('QUEUE_INDEX    CREATE_AT    QUEUE_REASON\nAsync backlog: 0 stored calls not yet delivered');
  }, 30_000);

  it('scale sets the replicas and says what happened; -o json is the API answer', async () => {
    const res = await cli(['scale', 'echo', '3']);
    expect([res.code, res.out]).toEqual([0, 'echo: 1 -> 3 replicas (manual)\n']);
    const clamped = JSON.parse((await cli(['scale', 'echo', '50', '-o', 'json'])).out) as Record<string, unknown>;
    expect(clamped).toMatchObject({ function: 'echo', requested: 50, from: 3, replicas: 10, clamped: true });
    expect((await cli(['scale', 'echo', '1'])).code).toBe(0);
  });

  it('events prints decisions with their reasons, filtered by function; -o json is the API body', async () => {
    const alert = await request(s.adminServer).post('/system/alert').auth(AUTH.user, AUTH.password).send(firing);
    expect(alert.status).toBe(200);
    const all = await cli(['events']);
    expect(all.code).toBe(0);
    expect(all.out.split('\n')[0]).toMatch(/^TIME\s+FUNCTION\s+SOURCE\s+ACTION\s+REPLICA\s+FROM\s+TO\s+REASON$/);
    expect(all.out).toMatch(new RegExp(`^${ISO.source}\\s+echo\\s+alert\\s+scale_up\\s+-\\s+1\\s+3\\s+step-up$`, 'm'));
    const cold = await cli(['events', 'cold']);
    expect(cold.out.trimEnd().split('\n').slice(1).every((l) => /^\S+\s+cold\s/.test(l))).toBe(true);
    const json = JSON.parse((await cli(['events', 'echo', '-o', 'json'])).out) as Array<{ function: string }>;
    expect(json.length).toBeGreaterThan(0);
    expect(new Set(json.map((e) => e.function))).toEqual(new Set(['echo']));
  });

  it('events --follow prints the history, then new events as they happen, until stopped', async () => {
    const stop = new AbortController();
    let out = '';
    const running = runCli(['events', 'echo', '--follow', '-o', 'json'], env, (t) => (out += t), () => undefined, { signal: stop.signal });
    await eventually(() => out.length > 0, 5000);
    const before = out.split('\n').filter((l) => l !== '').length;
    expect((await cli(['scale', 'echo', '4'])).code).toBe(0);
    await eventually(() => out.split('\n').some((l) => l.includes('"source":"api"') && l.includes('"to":4')), 5000);
    const lines = out.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(before);
    // Every line is one JSON event of that function, none twice.
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines.every((l) => (JSON.parse(l) as { function: string }).function === 'echo')).toBe(true);
    stop.abort();
    expect(await running).toBe(0);
    expect((await cli(['scale', 'echo', '1'])).code).toBe(0);
  }, 20_000);

  it('events --no-lifecycle leaves out the routine replica steps, in the table and in --follow; decisions stay', async () => {
    const LIFECYCLE = /\s(scale_up_start|scale_up_complete|drain_start|scale_down_complete)\s/;
    expect((await cli(['scale', 'echo', '2'])).code).toBe(0);
    await eventually(async () => (await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).ready === 2, 10_000);
    expect((await cli(['events', 'echo'])).out).toMatch(LIFECYCLE);
    const table = await cli(['events', 'echo', '--no-lifecycle']);
    expect(table.code).toBe(0);
    expect(table.out).not.toMatch(LIFECYCLE);
    expect(table.out).toMatch(/\sapi\s+scale_up\s+-\s+1\s+2\s+manual$/m);
    const stop = new AbortController();
    let out = '';
    const running = runCli(['events', 'echo', '--follow', '--no-lifecycle', '-o', 'json'], env, (t) => (out += t), () => undefined, { signal: stop.signal });
    await eventually(() => out.length > 0, 5000);
    expect((await cli(['scale', 'echo', '1'])).code).toBe(0);
    await eventually(async () => (await cli(['events', 'echo'])).out.includes('scale_down_complete'), 10_000);
    await eventually(() => out.includes('"to":1'), 5000);
    stop.abort();
    expect(await running).toBe(0);
    const actions = out.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { action: string }).action);
    expect(actions).toContain('scale_down');
    expect(actions.filter((a) => LIFECYCLE.test(` ${a} `))).toEqual([]);
  }, 30_000);

  it('invoke sends stdin as the body and prints the answer; a function the gateway does not know exits 1 naming the error', async () => {
    const res = await cli(['invoke', 'echo'], { readStdin: async () => Buffer.from('hello from stdin') });
    expect([res.code, res.out]).toEqual([0, 'hello from stdin']);
    const unknown = await cli(['invoke', 'nope'], { readStdin: async () => Buffer.from('x') });
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/HTTP 404 FUNCTION_UNKNOWN/);
  });

  it('the installed binary reads the invoke body from stdin (npm run build compiles what it runs)', async () => {
    const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'alert-scaler.js'), 'invoke', 'echo'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
    child.stdin.end('piped body');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    expect([code, out]).toEqual([0, 'piped body']);
  }, 20_000);

  it('a function the gateway does not know is exit 1 naming the answer, for every command that takes one', async () => {
    for (const argv of [['describe', 'nope'], ['workers', 'nope'], ['queue', 'nope'], ['events', 'nope'], ['scale', 'nope', '1']]) {
      const res = await cli(argv);
      expect([argv[0], res.code]).toEqual([argv[0], 1]);
      expect(res.err).toMatch(/HTTP 404 FUNCTION_UNKNOWN/);
    }
  });

  it('wrong credentials are exit 1 naming HTTP 401', async () => {
    const res = await cli(['list'], {}, { ...env, ALERT_SCALER_BASIC_AUTH_PASSWORD: 'wrong' });
    expect(res.code).toBe(1);
    expect(res.err).toMatch(/HTTP 401 UNAUTHORIZED/);
  });

  it('an unreachable gateway is exit 1 for every command, and the message says it could not reach it', async () => {
    const gateway = `http://127.0.0.1:${await closedPort()}`;
    for (const argv of [['list'], ['describe', 'echo'], ['workers', 'echo'], ['queue', 'echo'], ['events'], ['events', '--follow'], ['scale', 'echo', '1'], ['invoke', 'echo']]) {
      const res = await cli([...argv, '--gateway', gateway]);
      expect([argv.join(' '), res.code]).toEqual([argv.join(' '), 1]);
      expect(res.err).toContain(`cannot reach the gateway at ${gateway}: ECONNREFUSED`);
    }
  });

  const usage: Array<[string, string[]]> = [
    ['no command', []],
    ['an unknown command', ['frobnicate']],
    ['describe without a function', ['describe']],
    ['workers with two functions', ['workers', 'a', 'b']],
    ['scale without a count', ['scale', 'echo']],
    ['scale with a count that is no number', ['scale', 'echo', 'many']],
    ['scale with a negative count', ['scale', 'echo', '-1']],
    ['events with two functions', ['events', 'a', 'b']],
    ['an unknown output format', ['list', '-o', 'yaml']],
    ['an unknown option', ['list', '--bogus']],
  ];
  it.each(usage)('%s is exit 2 with the usage', async (_name, argv) => {
    const res = await cli(argv);
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/usage: alert-scaler <command>/);
    expect(res.out).toBe('');
  });
});
