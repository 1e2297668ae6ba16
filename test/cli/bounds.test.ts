import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../src/bootstrap.js';
import { runCli } from '../../src/cli.js';
import { closedPort } from '../support/processes.js';

/*
 * The CLI never hangs and never prints a password: gateways on 127.0.0.1 that accept and
 * never answer, that send the stream's head and go silent, that only send heartbeats;
 * every command's --help; credentials in --gateway. The hangs run the built binary
 * (bin/alert-scaler.js, `npm run build`) as a child process, since what matters is that the
 * process ends.
 */

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

/** A TCP server that accepts every connection and never writes a byte. */
async function silentServer(): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * A fake gateway: `GET /system/events` answers `[]`, `GET /system/stream` calls `stream`
 * with the response (which it may leave silent), anything else `other`.
 */
async function fakeGateway(stream: (res: http.ServerResponse) => void, other: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_q, res) => res.writeHead(404).end()): Promise<string> {
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/system/events') === true) {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('[]');
    } else if (req.url?.startsWith('/system/stream') === true) {
      open.add(res);
      stream(res);
    } else other(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const res of open) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Exit {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
  readonly tookMs: number;
}

/** Runs bin/alert-scaler.js with `argv`; SIGKILLed after `killAfterMs` (then code null). `interruptAfterMs` sends SIGINT. */
function runBinary(argv: string[], killAfterMs: number, interruptAfterMs?: number): Promise<Exit> {
  const began = Date.now();
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'alert-scaler.js'), ...argv], {
    env: { PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (err += t));
  const kill = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const interrupt = interruptAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGINT'), interruptAfterMs);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(kill);
      clearTimeout(interrupt);
      resolve({ code, out, err, tookMs: Date.now() - began });
    });
  });
}

describe('the CLI gives up on a gateway that does not answer', () => {
  it('events --follow against a gateway that accepts and never answers exits 1 within --connect-timeout, naming the gateway', async () => {
    const gateway = await silentServer();
    const res = await runBinary(['events', '--follow', '--gateway', gateway, '--connect-timeout', '300ms'], 15_000);
    expect(res.code).toBe(1);
    expect(res.err).toContain(`the gateway at ${gateway} did not answer GET /system/stream within 300 ms`);
    expect(res.tookMs).toBeLessThan(10_000);
  }, 20_000);

  it('events --follow on a stream whose head arrives and then no byte exits 1 within --connect-timeout', async () => {
    const gateway = await fakeGateway((res) => res.writeHead(200, { 'Content-Type': 'text/event-stream' }).flushHeaders());
    const res = await runBinary(['events', '--follow', '--gateway', gateway, '--connect-timeout', '300ms'], 15_000);
    expect(res.code).toBe(1);
    expect(res.err).toContain(`the gateway at ${gateway} sent the head of the event stream but no byte within 300 ms`);
  }, 20_000);

  it('events --follow on a stream that opens and then goes silent exits 1 after --idle-timeout (no event, no heartbeat)', async () => {
    const gateway = await fakeGateway((res) => res.writeHead(200, { 'Content-Type': 'text/event-stream' }).write('retry: 2000\n\n'));
    const res = await runBinary(['events', '--follow', '--gateway', gateway, '--connect-timeout', '5s', '--idle-timeout', '500ms'], 15_000);
    expect(res.code).toBe(1);
    expect(res.err).toContain(`the gateway at ${gateway} sent nothing on the event stream for 500 ms, not even a heartbeat`);
    expect(res.out).toMatch(/^TIME\s+FUNCTION/); // the (empty) history printed: the stream was open
    expect(res.tookMs).toBeGreaterThanOrEqual(500);
    expect(res.tookMs).toBeLessThan(10_000);
  }, 20_000);

  it('events --follow keeps going while heartbeats arrive, and Ctrl-C still ends it with 0', async () => {
    const gateway = await fakeGateway((res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' }).write('retry: 2000\n\n');
      const beat = setInterval(() => res.write(': heartbeat\n\n'), 100);
      res.on('close', () => clearInterval(beat));
    });
    // Heartbeats every 100 ms against a 1 s idle timeout: ten times the margin, so a busy machine does not end it.
    const res = await runBinary(['events', '--follow', '--gateway', gateway, '--idle-timeout', '1s'], 15_000, 3000);
    expect([res.code, res.err]).toEqual([0, '']);
    expect(res.tookMs).toBeGreaterThanOrEqual(3000);
  }, 20_000);

  it('every other command against a gateway that never answers exits 1 within --timeout', async () => {
    const gateway = await silentServer();
    for (const argv of [['list'], ['describe', 'echo'], ['workers', 'echo'], ['queue', 'echo'], ['events'], ['scale', 'echo', '1'], ['invoke', 'echo']]) {
      let err = '';
      const began = Date.now();
      const code = await runCli([...argv, '--gateway', gateway, '--timeout', '200ms'], {}, () => undefined, (t) => (err += t), { readStdin: async () => Buffer.from('x') });
      expect([argv[0], code]).toEqual([argv[0], 1]);
      expect(err).toContain(`cannot reach the gateway at ${gateway}: no answer within 200 ms`);
      expect(Date.now() - began).toBeLessThan(5000);
    }
  }, 30_000);

  it('an answer whose body stops half-way exits 1 within --timeout', async () => {
    const gateway = await fakeGateway(
      () => undefined,
      (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' }).write('[{"name":');
      },
    );
    let err = '';
    const code = await runCli(['list', '--gateway', gateway, '--timeout', '300ms'], {}, () => undefined, (t) => (err += t));
    expect(code).toBe(1);
    expect(err).toContain(`the answer of the gateway at ${gateway} to GET /system/functions broke off: no answer within 300 ms`);
  });
});

describe('--help', () => {
  it('simulate --help and -h print the simulator usage and exit 0 (the binary too)', async () => {
    for (const flag of ['--help', '-h']) {
      let out = '';
      let err = '';
      expect(await runCli(['simulate', flag], {}, (t) => (out += t), (t) => (err += t))).toBe(0);
      expect(out).toMatch(/^usage: alert-scaler simulate --stack/);
      expect(err).toBe('');
    }
    const bin = await runBinary(['simulate', '--help'], 15_000);
    expect([bin.code, bin.err]).toEqual([0, '']);
    expect(bin.out).toMatch(/^usage: alert-scaler simulate/);
  }, 20_000);

  it.each(['list', 'ls', 'describe', 'workers', 'queue', 'events', 'scale', 'invoke'])('%s --help prints its usage and exit 0, whatever else is on the line', async (command) => {
    for (const argv of [[command, '--help'], [command, '-h'], [command, 'a', 'b', 'c', '--bogus', '-h'], ['help', command]]) {
      let out = '';
      let err = '';
      expect(await runCli(argv, {}, (t) => (out += t), (t) => (err += t))).toBe(0);
      expect(out).toMatch(new RegExp(`^usage: alert-scaler ${command === 'ls' ? 'list' : command}\\b`));
      expect(out).toContain('--gateway URL');
      expect(err).toBe('');
    }
  });

  it('an unknown command with --help is still exit 2', async () => {
    let err = '';
    expect(await runCli(['frobnicate', '--help'], {}, () => undefined, (t) => (err += t))).toBe(2);
    expect(err).toContain('unknown command "frobnicate"');
  });
});

/** `url` (a loopback gateway) with `userinfo` (`user:password`) put after its scheme. */
function withCredentials(url: string, userinfo: string): string {
  return url.replace(/^([a-z]+:\/\/)/, `$1${userinfo}@`);
}

describe('a password in --gateway', () => {
  it('is never printed when the gateway refuses the connection, for every command (user kept, password ***)', async () => {
    const port = await closedPort();
    for (const argv of [['list'], ['describe', 'echo'], ['workers', 'echo'], ['queue', 'echo'], ['events'], ['events', '--follow'], ['scale', 'echo', '1'], ['invoke', 'echo']]) {
      let out = '';
      let err = '';
      const code = await runCli([...argv, '--gateway', withCredentials(`http://127.0.0.1:${port}`, 'user:secret')], {}, (t) => (out += t), (t) => (err += t));
      expect([argv.join(' '), code]).toEqual([argv.join(' '), 1]);
      expect(err).toContain(`cannot reach the gateway at ${withCredentials(`http://127.0.0.1:${port}`, 'user:***')}: ECONNREFUSED`);
      expect(out + err).not.toContain('secret');
    }
  });

  it('is never printed when the gateway answers an error, nor in usage errors or describe', async () => {
    const seen: Array<string | undefined> = [];
    const gateway = await fakeGateway(
      () => undefined,
      (req, res) => {
        seen.push(req.headers.authorization);
        if (req.url === '/system/functions') res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"error":{"code":"INTERNAL","message":"boom"}}');
        else res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"name":"echo","replicas":1,"invocationCount":0,"states":{"starting":0,"free":1,"busy":0,"draining":0,"stopping":0},"queueLength":0,"queue":{"noReplica":0,"busy":0,"oldestWaitMs":0},"policy":{"type":null,"problems":[]},"instances":[]}');
      },
    );
    const withSecret = withCredentials(gateway, 'user:s%40cret');
    const texts: string[] = [];
    const run = async (argv: string[]): Promise<number> => runCli(argv, {}, (t) => texts.push(t), (t) => texts.push(t));
    expect(await run(['list', '--gateway', withSecret])).toBe(1);
    expect(await run(['describe', 'echo', '--gateway', withSecret])).toBe(0);
    expect(await run(['list', '--gateway', withCredentials('ftp://127.0.0.1', 'user:secret')])).toBe(2);
    expect(await run(['list', `--bogus=${withCredentials('http://127.0.0.1', 'user:secret')}`])).toBe(2);
    const printed = texts.join('');
    expect(printed).toContain(`the gateway at ${withCredentials(gateway, 'user:***')} answered GET /system/functions with HTTP 500 INTERNAL: boom`);
    expect(printed).toContain(`${withCredentials(gateway, 'user:***')}/function/echo`);
    expect(printed).not.toMatch(/secret|s%40cret|s@cret/);
    // The credentials still authenticate: sent as basic auth, decoded.
    expect(seen).toEqual([`Basic ${Buffer.from('user:s@cret').toString('base64')}`, `Basic ${Buffer.from('user:s@cret').toString('base64')}`]);
  });
});
