import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/*
 * The floor of the proxy bench (issue 19's CPU figure): the least a Node process does to relay
 * a call, measured in the same run as nginx and the gateway. Per client connection one
 * upstream connection; per call it finds the request head, reads Content-Length, cuts the
 * `/function/<name>` prefix off the path, waits for the whole body (as the gateway does for
 * one it may send again) and writes head and body on in one write; the answers are piped back
 * as bytes, unparsed. No limits, timeouts, metrics, queue, retries or checks of any kind: it
 * is a yardstick, never a proxy to run (it trusts every byte and handles neither chunked
 * requests nor pipelining).
 */

/** Longest request head it holds; more, and the connection is closed. */
const MAX_HEAD_BYTES = 16 * 1024;

/** The Content-Length of a request head (0 when absent). */
function contentLength(head: string): number {
  const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  return m === null ? 0 : Number(m[1]);
}

/** The head with `/function/<name>` cut from the start of its path (`/function/echo/x` → `/x`). */
function rewrite(head: string): string {
  const start = head.indexOf(' ') + 1;
  const m = /^\/function\/[^/? ]+/.exec(head.slice(start, start + 256));
  if (m === null) return head;
  const after = head.charCodeAt(start + m[0].length) === 0x2f ? '' : '/';
  return head.slice(0, start) + after + head.slice(start + m[0].length);
}

/** Relays one client connection to `upstreamPort` until either side closes. */
export function relay(client: net.Socket, upstreamPort: number): void {
  const upstream = net.connect(upstreamPort, '127.0.0.1');
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  // What arrived of the current call (and any after it): the head and body go on in one write.
  let held: Buffer[] = [];
  let heldBytes = 0;
  /** Bytes of the current call (head and body) once its head is read; 0 before. */
  let callBytes = 0;
  let head: Buffer | null = null;
  client.on('data', (chunk: Buffer) => {
    held.push(chunk);
    heldBytes += chunk.length;
    for (;;) {
      if (callBytes === 0) {
        const seen = held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held, heldBytes);
        held = [seen];
        const end = seen.indexOf('\r\n\r\n');
        if (end < 0) {
          if (heldBytes > MAX_HEAD_BYTES) client.destroy();
          return;
        }
        const text = seen.toString('latin1', 0, end + 4);
        head = Buffer.from(rewrite(text), 'latin1');
        callBytes = end + 4 + contentLength(text);
        held = [seen.subarray(end + 4)];
        heldBytes -= end + 4;
        callBytes -= end + 4;
        if (callBytes === 0) {
          upstream.write(head);
          continue;
        }
      }
      if (heldBytes < callBytes) return;
      const all = Buffer.concat(held, heldBytes);
      upstream.write(Buffer.concat([head as Buffer, all.subarray(0, callBytes)]));
      held = [all.subarray(callBytes)];
      heldBytes -= callBytes;
      callBytes = 0;
      if (heldBytes === 0) return;
    }
  });
  upstream.on('data', (chunk: Buffer) => client.write(chunk));
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.on('error', () => undefined);
  upstream.on('error', () => undefined);
}

/** The relay as a process of its own (its CPU read from /proc like nginx's). */
export interface FloorRelay {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts this file (built: dist/bench/relay-floor.js) with `<upstreamPort>`; resolves once it listens. */
export async function startFloorRelay(upstreamPort: number): Promise<FloorRelay> {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(import.meta.url), String(upstreamPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('proxy bench: floor relay not listening within 5 s')), 5000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', () => reject(new Error('proxy bench: floor relay exited before listening')));
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { port, pid: child.pid ?? -1, stop };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const upstreamPort = Number(process.argv[2]);
  const server = net.createServer((socket) => relay(socket, upstreamPort));
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
  });
  process.once('SIGTERM', () => process.exit(0));
}
