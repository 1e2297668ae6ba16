import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from '../../log/logger.js';
import type { CrashReason, ReplicaCrash } from '../types.js';
import { crashMessage } from './crash.js';
import { portAccepts, probe, probeDelayMs, replicaCommand, signalGroup } from './process.js';
import { READY_FD, READY_FD_ENV, probeHoldOffMs, watchReadyPipe } from './ready-pipe.js';
import type { StackFunction } from './stack.js';
import { StderrTail } from './stderr-tail.js';

export { crashMessage } from './crash.js';
export { freePort } from './process.js';

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
  /** The replica is expected to say `ready` on its pipe (its function's last replica did): no probes in the first PIPE_GRACE_MS. */
  readonly expectReadyPipe: boolean;
  /** Calls wait for the function's first ready replica: probe at the fast pace (`probeDelayMs`), else every `healthIntervalMs`. Read before each pause. */
  readonly awaited: () => boolean;
  readonly logger: Logger;
  /** Called when the phase changes. */
  readonly onChange: (replica: Replica) => void;
}

/** How long a crashed replica's stderr gets to close (its last lines to arrive) after its process ended, ms. */
const STDERR_SETTLE_MS = 1000;
/** How the replica's own process ended: its exit code or signal, or the error that kept it from starting. */
interface ProcessEnd {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

/** One child process serving one replica of a local function. */
export class Replica {
  readonly id: string;
  readonly port: number;
  readonly url: URL;
  /** Wall-clock ms (high resolution) when the process was spawned. */
  readonly startedAt = performance.timeOrigin + performance.now();
  phase: ReplicaPhase = 'starting';
  /** How the replica was found ready: its readiness pipe or a health probe; null until it is. */
  readyBy: 'pipe' | 'probe' | null = null;
  /** True when the process ended without being asked to. */
  crashed = false;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private resolveExited: () => void = () => undefined;
  private readonly stderr = new StderrTail();
  /** Set when the replica's own process ended; the replica is `exited` once its stderr closed too. */
  private end: ProcessEnd | null = null;
  private endedAt = 0;
  /** Killed for not becoming ready within the start timeout. */
  private startTimedOut = false;
  private settleTimer: NodeJS.Timeout | undefined;
  /** The pipe closed or said something else than `ready`: the probes run at once. */
  private pipeSilent = false;
  /** Ends the probe loop's current pause early (readiness, the pipe's verdict, the end). */
  private wakeProbes: (() => void) | null = null;

  constructor(private readonly options: ReplicaOptions) {
    this.id = options.id;
    this.port = options.port;
    this.url = new URL(`http://127.0.0.1:${options.port}`);
    const { file, args } = replicaCommand(options.fn, options.logger);
    this.exited = new Promise((resolveExit) => (this.resolveExited = resolveExit));
    this.child = spawn(file, args, {
      cwd: options.fn.cwd,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', ...options.fn.environment, PORT: String(options.port), [READY_FD_ENV]: String(READY_FD) },
      // fd 3: the readiness pipe (READY_FD_ENV), read by watchReadyPipe.
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      // Its own process group (pgid = pid): the replica's children are signalled with it.
      detached: process.platform !== 'win32',
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr.push(chunk);
      options.logger.debug('replica stderr', { function: options.fn.name, port: this.port, text: chunk.toString().slice(0, 500) });
    });
    const readyPipe = this.child.stdio[READY_FD] as Readable | null | undefined;
    if (readyPipe !== null && readyPipe !== undefined) watchReadyPipe(readyPipe, (verdict) => this.onPipeVerdict(verdict));
    this.child.once('exit', (code, signal) => this.onProcessEnd({ code, signal }));
    // After 'exit', once every process holding its stderr (the group it started) is gone.
    this.child.once('close', () => this.finish());
    this.child.on('error', (err) => {
      // Only a process that never started ends here; a failed kill of a running one is not its end.
      if (this.child.pid !== undefined) return;
      this.onProcessEnd({ code: null, signal: null, error: err });
      this.finish();
    });
    void this.waitReady();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** How the replica crashed, once it is `exited` after a crash; null otherwise. */
  crashReport(): ReplicaCrash | null {
    if (this.phase !== 'exited' || !this.crashed || this.end === null) return null;
    const { code, signal, error } = this.end;
    const reason: CrashReason = error !== undefined ? 'spawn-failed' : this.startTimedOut ? 'start-timeout' : signal !== null ? 'signal' : 'exited';
    const stderr = this.stderr.lines();
    const crash = { reason, code, signal, stderr };
    const message = crashMessage(crash, { startTimeoutMs: this.options.startTimeoutMs, ...(error === undefined ? {} : { error: error.message }) });
    return { replica: this.id, ...crash, at: Math.round(this.endedAt), message };
  }

  /**
   * The replica's own process ended. Unasked, it crashed: whatever it started dies with it
   * (a shell's child, a worker it forked) and its last stderr gets a moment to arrive. Asked
   * (stopping), the rest of its group keeps its grace: a shell ends at SIGTERM at once, the
   * command it runs may take its time.
   */
  private onProcessEnd(end: ProcessEnd): void {
    if (this.end !== null) return;
    this.end = end;
    this.wakeProbes?.();
    this.endedAt = Date.now();
    if (this.phase === 'draining' || this.phase === 'stopping') return;
    this.crashed = true;
    this.killGroup();
    this.settleSoon();
  }

  /** Finishes the replica after STDERR_SETTLE_MS even if its stderr never closes (a process that left the group holds it). */
  private settleSoon(): void {
    if (this.settleTimer !== undefined || this.phase === 'exited') return;
    this.settleTimer = setTimeout(() => this.finish(), STDERR_SETTLE_MS);
    this.settleTimer.unref();
  }

  /** The replica is gone: its process ended and its stderr closed (or the settle time passed). */
  private finish(): void {
    if (this.phase === 'exited') return;
    this.end ??= { code: this.child.exitCode, signal: this.child.signalCode };
    clearTimeout(this.settleTimer);
    // What is left of its group (a process that closed its stderr) goes with it.
    this.killGroup();
    if (this.phase !== 'draining' && this.phase !== 'stopping') this.crashed = true;
    this.phase = 'exited';
    if (!this.crashed) {
      this.options.logger.info('replica exited', { function: this.options.fn.name, replica: this.id, port: this.port, code: this.end.code, signal: this.end.signal });
    }
    this.options.onChange(this);
    this.resolveExited();
  }

  /**
   * Probes the health path until it answers 200, the process exits, or the start deadline
   * passes: a TCP connect first (cheap while nothing listens), the HTTP probe once the port
   * accepts; every health interval, or while calls wait for it (`awaited`) every 1 ms at
   * first, backing off to the health interval (`probeDelayMs`): the fast pace is for a held
   * call; a scale-up nobody waits on would pay it in connects (1,000 a second in the first
   * 100 ms of a replica that does not listen yet, against 200 at the 5 ms interval). A
   * replica that says it is ready on its readiness pipe first ends the loop at its next turn.
   */
  private async waitReady(): Promise<void> {
    const deadline = this.startedAt + this.options.startTimeoutMs;
    let listening = false;
    while (this.phase === 'starting' && this.end === null) {
      const holdOff = probeHoldOffMs(this.sinceSpawnMs(), this.options.expectReadyPipe && !this.pipeSilent);
      if (holdOff > 0) {
        await this.pause(holdOff);
        continue;
      }
      listening ||= await portAccepts(this.port);
      if (listening && (await probe(this.port, this.options.healthPath))) {
        this.becomeReady('probe');
        return;
      }
      if (Date.now() > deadline) {
        if (this.end !== null) return;
        this.options.logger.warn('replica not ready in time', { function: this.options.fn.name, port: this.port, startTimeoutMs: this.options.startTimeoutMs });
        this.startTimedOut = true;
        this.crashed = true;
        this.signal('SIGKILL');
        return;
      }
      const { healthIntervalMs, awaited } = this.options;
      await this.pause(awaited() ? probeDelayMs(this.sinceSpawnMs(), healthIntervalMs) : healthIntervalMs);
    }
  }

  private sinceSpawnMs(): number {
    return performance.timeOrigin + performance.now() - this.startedAt;
  }

  /** Waits `ms`, or less when `wakeProbes` is called. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolvePause) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeProbes = null;
        resolvePause();
      };
      const timer = setTimeout(done, ms);
      this.wakeProbes = done;
    });
  }

  /** Calls now wait for this replica's function: a starting replica's pause ends and its probes go at the fast pace. */
  hurry(): void {
    if (this.phase === 'starting') this.wakeProbes?.();
  }

  /** The readiness pipe spoke: `ready` makes the replica ready; anything else starts the probes now. */
  private onPipeVerdict(verdict: 'ready' | 'other'): void {
    if (verdict === 'ready') {
      this.becomeReady('pipe');
      return;
    }
    this.pipeSilent = true;
    this.wakeProbes?.();
  }

  /** The replica serves (its pipe said so or a probe passed): `ready`, reported, unless it already is or ended. */
  private becomeReady(by: 'pipe' | 'probe'): void {
    if (this.phase !== 'starting' || this.end !== null) return;
    this.phase = 'ready';
    this.readyBy = by;
    this.wakeProbes?.();
    this.options.onChange(this);
  }

  /**
   * Removes the replica: no new requests (`draining`, reported), SIGTERM to its group (the
   * processes finish what they hold), then SIGKILL if they have not all ended after graceMs.
   * The engine drains a replica's requests before it asks for this; requests still running
   * get the process's own SIGTERM handling, as a pod does.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.phase === 'exited') return;
    this.phase = 'draining';
    this.wakeProbes?.();
    this.options.onChange(this);
    if ((this.phase as ReplicaPhase) === 'exited') return;
    this.phase = 'stopping';
    this.options.onChange(this);
    this.signal('SIGTERM');
    const killTimer = setTimeout(() => {
      this.signal('SIGKILL');
      this.settleSoon();
    }, graceMs);
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
