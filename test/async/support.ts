import * as fs from 'node:fs';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestFunction } from '../support/harness.js';

// A replica that counts the calls it holds at once (the most ever in $STATE_FILE), answers
// 429 for the first $FAIL_FIRST attempts of each X-Call-Id (then 200), always $ALWAYS when set,
// else echoes the body after $DELAY_MS.
const REPLICA = `
import http from 'node:http';
import { writeFileSync } from 'node:fs';
const delayMs = Number(process.env.DELAY_MS ?? 5);
const failFirst = Number(process.env.FAIL_FIRST ?? 0);
const always = Number(process.env.ALWAYS ?? 0);
const seen = new Map();
let inflight = 0, max = 0, calls = 0;
const save = () => writeFileSync(process.env.STATE_FILE + '.' + process.pid, JSON.stringify({ max, calls }));
http.createServer((req, res) => {
  if (req.url === '/_/health') { res.writeHead(200); res.end('OK'); return; }
  inflight += 1; calls += 1;
  if (inflight > max) max = inflight;
  save();
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => setTimeout(() => {
    inflight -= 1;
    save();
    const id = String(req.headers['x-call-id'] ?? '');
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    if (always > 0) { res.writeHead(always); res.end('no'); return; }
    if (n <= failFirst) { res.writeHead(429); res.end('slow down'); return; }
    res.writeHead(200, { 'content-type': 'text/plain', 'x-path': req.url });
    res.end(Buffer.concat(chunks));
  }, delayMs));
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
// Orphaned (the gateway was killed): leave too.
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 200).unref();
`;

/** A counting replica's stack entry and a reader of the most calls any one replica held at once, and the calls it got. */
export function countingFunction(environment: Record<string, string>, labels: Record<string, string>): { fn: TestFunction; state: () => { max: number; calls: number }; pids: () => number[] } {
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-async-'));
  const script = join(dir, 'replica.mjs');
  writeFileSync(script, REPLICA);
  const stateFile = join(dir, 'state');
  return {
    fn: { command: [process.execPath, script], environment: { ...environment, STATE_FILE: stateFile }, labels },
    pids: () => fs.readdirSync(dir).filter((f) => f.startsWith('state.')).map((f) => Number(f.slice(6))),
    state: () => {
      let max = 0;
      let calls = 0;
      const { readdirSync } = fs;
      for (const f of readdirSync(dir)) {
        if (!f.startsWith('state.')) continue;
        try {
          const s = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { max: number; calls: number };
          max = Math.max(max, s.max);
          calls += s.calls;
        } catch {
          // a write under way
        }
      }
      return { max, calls };
    },
  };
}


/** A callback receiver on 127.0.0.1: every POST recorded with its headers and body. */
export async function callbackServer(): Promise<{ url: string; got: Array<{ id: string; status: string; duration: string; body: string }>; close(): Promise<void> }> {
  const got: Array<{ id: string; status: string; duration: string; body: string }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ id: String(req.headers['x-call-id']), status: String(req.headers['x-function-status']), duration: String(req.headers['x-duration-seconds']), body: Buffer.concat(chunks).toString() });
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/cb`,
    got,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
