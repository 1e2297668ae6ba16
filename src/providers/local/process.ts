import { accessSync, constants } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { Logger } from '../../log/logger.js';
import { PARENT_DEATH_SIGNAL, PARENT_DEATH_WRAPPER } from './command.js';
import type { StackFunction } from './stack.js';

/** Finds a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * True when something accepts a TCP connection on the replica's port: the cheap first check
 * of a starting replica (a refused connect costs no HTTP request), before `probe`.
 */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolveCheck) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('connect', () => {
      socket.destroy();
      resolveCheck(true);
    });
    socket.once('error', () => resolveCheck(false));
    socket.once('close', () => resolveCheck(false));
  });
}

/** How long the readiness probes poll at 1 ms after a replica is spawned, ms (then they back off). */
export const FAST_PROBE_WINDOW_MS = 100;

/**
 * The pause before the next readiness probe of a replica spawned `sinceSpawnMs` ago: 1 ms for
 * the first FAST_PROBE_WINDOW_MS (a wake's held call goes the moment the replica listens),
 * then doubling every window (2, 4, ...) up to `intervalMs`, the configured health interval.
 */
export function probeDelayMs(sinceSpawnMs: number, intervalMs: number): number {
  if (sinceSpawnMs < FAST_PROBE_WINDOW_MS) return Math.min(1, intervalMs);
  return Math.min(intervalMs, 2 ** Math.floor(sinceSpawnMs / FAST_PROBE_WINDOW_MS));
}

/** One health probe: true when `path` on the replica's port answers 200 within 1 s. */
export function probe(port: number, path: string): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolveProbe(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolveProbe(false));
  });
}

/** util-linux setpriv, which sets the parent-death signal and then execs the replica. */
const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv'];
let setprivPath: string | null | undefined;
let warnedNoSetpriv = false;

/**
 * The setpriv binary, looked up once; null off Linux or when it is missing (then a replica
 * outlives a SIGKILLed gateway: nothing else tells it that its parent is gone).
 */
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform === 'linux') {
    for (const candidate of SETPRIV_PATHS) {
      try {
        accessSync(candidate, constants.X_OK);
        setprivPath = candidate;
        break;
      } catch {
        // not here; try the next one
      }
    }
  }
  return setprivPath;
}

/**
 * The command that runs one replica: through `setpriv --pdeathsig KILL` when available, so
 * the kernel kills the replica when the gateway dies, even by SIGKILL. (The signal fires when
 * the forking thread exits; libuv forks from the main thread, so that is the process's end.)
 * A compound command line runs under a shell that kills its whole group on that signal
 * instead (PARENT_DEATH_WRAPPER): the line's children would not inherit it.
 */
export function replicaCommand(fn: StackFunction, logger: Logger): { file: string; args: string[] } {
  const [file = '', ...args] = fn.argv;
  const setpriv = findSetpriv();
  if (setpriv !== null && fn.shellLine !== undefined) {
    return { file: setpriv, args: ['--pdeathsig', PARENT_DEATH_SIGNAL, '--', '/bin/sh', '-c', PARENT_DEATH_WRAPPER, 'sh', fn.shellLine] };
  }
  if (setpriv !== null) return { file: setpriv, args: ['--pdeathsig', 'KILL', '--', file, ...args] };
  if (!warnedNoSetpriv) {
    warnedNoSetpriv = true;
    logger.warn('replicas will outlive a killed gateway', { hint: 'install util-linux setpriv (Linux) so replicas get SIGKILL when the gateway dies' });
  }
  return { file, args };
}

/** Signals a whole process group; a group that is already gone is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
