import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { Logger } from '../../log/logger.js';
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

function probe(port: number, path: string): Promise<boolean> {
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
 */
function replicaCommand(argv: readonly string[], logger: Logger): { file: string; args: string[] } {
  const [file = '', ...args] = argv;
  const setpriv = findSetpriv();
  if (setpriv !== null) return { file: setpriv, args: ['--pdeathsig', 'KILL', '--', file, ...args] };
  if (!warnedNoSetpriv) {
    warnedNoSetpriv = true;
    logger.warn('replicas will outlive a killed gateway', { hint: 'install util-linux setpriv (Linux) so replicas get SIGKILL when the gateway dies' });
  }
  return { file, args };
}

/** Signals a whole process group; a group that is already gone is not an error. */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Phase of a local replica process: `draining` while it finishes in-flight requests before
 * removal, `stopping` once SIGTERM is sent, `exited` when the process is gone.
 */
export type ReplicaPhase = 'starting' | 'ready' | 'draining' | 'stopping' | 'exited';

export interface ReplicaOptions {
  /** `<fn>-<n>`: stable for the replica's life, n counts up per function. */
  readonly id: string;
  readonly fn: StackFunction;
  readonly port: number;
  readonly healthPath: string;
  readonly healthIntervalMs: number;
  readonly startTimeoutMs: number;
  readonly logger: Logger;
  /** Called when the phase changes. */
  readonly onChange: (replica: Replica) => void;
}

/** One child process serving one replica of a local function. */
export class Replica {
  readonly id: string;
  readonly port: number;
  readonly url: URL;
  /** Wall-clock ms (high resolution) when the process was spawned. */
  readonly startedAt = performance.timeOrigin + performance.now();
  phase: ReplicaPhase = 'starting';
  /** True when the process ended without being asked to. */
  crashed = false;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(private readonly options: ReplicaOptions) {
    this.id = options.id;
    this.port = options.port;
    this.url = new URL(`http://127.0.0.1:${options.port}`);
    const { file, args } = replicaCommand(options.fn.argv, options.logger);
    this.child = spawn(file, args, {
      cwd: options.fn.cwd,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', ...options.fn.environment, PORT: String(options.port) },
      stdio: ['ignore', 'ignore', 'pipe'],
      // Its own process group (pgid = pid): the replica's children are signalled with it.
      detached: process.platform !== 'win32',
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      options.logger.debug('replica stderr', { function: options.fn.name, port: this.port, text: chunk.toString().slice(0, 500) });
    });
    this.exited = new Promise((resolveExit) => {
      const onEnd = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
        if (this.phase === 'exited') return;
        // Whatever the replica started dies with it (a shell's child, a worker it forked).
        this.killGroup();
        if (this.phase !== 'draining' && this.phase !== 'stopping') this.crashed = true;
        this.phase = 'exited';
        options.logger.info('replica exited', { function: options.fn.name, port: this.port, code, signal, crashed: this.crashed, error: error?.message });
        options.onChange(this);
        resolveExit();
      };
      this.child.once('exit', (code, signal) => onEnd(code, signal));
      this.child.once('error', (err) => onEnd(null, null, err));
    });
    void this.waitReady();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Probes the health path until it answers 200, the process exits, or the start deadline passes. */
  private async waitReady(): Promise<void> {
    const deadline = this.startedAt + this.options.startTimeoutMs;
    while (this.phase === 'starting') {
      if (await probe(this.port, this.options.healthPath)) {
        if (this.phase !== 'starting') return;
        this.phase = 'ready';
        this.options.onChange(this);
        return;
      }
      if (Date.now() > deadline) {
        this.options.logger.warn('replica not ready in time', { function: this.options.fn.name, port: this.port, startTimeoutMs: this.options.startTimeoutMs });
        this.crashed = true;
        this.signal('SIGKILL');
        return;
      }
      await new Promise((r) => setTimeout(r, this.options.healthIntervalMs));
    }
  }

  /**
   * Removes the replica: no new requests (`draining`, reported), SIGTERM (the process
   * finishes what it holds), then SIGKILL if it has not exited after graceMs. The engine
   * drains a replica's requests before it asks for this; requests still running get the
   * process's own SIGTERM handling, as a pod does.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.phase === 'exited') return;
    this.phase = 'draining';
    this.options.onChange(this);
    if ((this.phase as ReplicaPhase) === 'exited') return;
    this.phase = 'stopping';
    this.options.onChange(this);
    this.signal('SIGTERM');
    const killTimer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(killTimer);
  }

  /**
   * SIGKILLs the replica's process group at once, synchronously: for `process.on('exit')`
   * and a second signal, when there is no time left to drain.
   */
  killGroup(): void {
    this.signal('SIGKILL');
  }

  /** Signals the replica's process group (its own group: spawned detached). */
  private signal(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    if (process.platform === 'win32') this.child.kill(signal);
    else signalGroup(pid, signal);
  }

  /** Kills the process at once (tests use this to simulate a crash). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }
}
