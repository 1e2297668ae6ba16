import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { yieldToLoop } from '../../core/yield-to-loop.js';
import { isFileTooLarge, readTextFileAsync } from '../../config/files.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { NamedPolicyListener, NamedPolicyProblemListener, NamedPolicySource } from '../named-policies.js';
import { checkStackPolicy, type StackPolicies } from './stack.js';
import { readYamlMap } from './yaml-chunks.js';

export interface StackPolicySourceOptions {
  /** The stack file. */
  readonly path: string;
  /** Largest stack file read, bytes (`maxFileBytes`): a larger one is refused before it is read. */
  readonly maxFileBytes: number;
  readonly logger: Logger;
  /** How often the file is looked at again in case no watch event came (network file systems, some editors); default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** Quiet time after a watch event before the file is read, so one save reads once; default 50 ms. */
  readonly debounceMs?: number;
}

/** Policies checked, compared or announced between two turns of the event loop. */
const SLICE = 500;
/** Most problems kept from one refused file. */
const MAX_PROBLEMS = 20;

type Loaded = { readonly ok: true; readonly policies: StackPolicies; readonly text: string } | { readonly ok: false; readonly problems: readonly string[]; readonly tooLarge?: AppError };

/**
 * The named policies of the local provider: the stack file's `policies:` map, the same for
 * every namespace. The file is watched (fs.watch on its folder, so a save by rename is seen)
 * with a poll as fallback; a poll reads the file only when its size, times or inode changed.
 * A file over `maxFileBytes` is refused before it is read; the YAML is parsed on a worker
 * thread and the map checked, compared and announced a slice at a time, so a large file never
 * holds the event loop. A file refused (too large, not parsing) keeps the last good policies,
 * is logged once and told to problem listeners (the engine records an event per function).
 * Listeners hear about each policy added, changed or removed.
 */
export class StackPolicySource implements NamedPolicySource {
  private policies: StackPolicies = {};
  private lastText: string | undefined;
  /** The file's size, times and inode when last looked at: an unchanged file is not read again. */
  private lastStat: string | undefined;
  /** The problems last logged, so a refused file is logged once. */
  private lastProblems: string | undefined;
  private readonly listeners = new Set<NamedPolicyListener>();
  private readonly problemListeners = new Set<NamedPolicyProblemListener>();
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private stopParse: (() => void) | undefined;
  private readonly log: Logger;

  constructor(private readonly options: StackPolicySourceOptions) {
    this.log = options.logger.child({ component: 'stack-policies' });
  }

  get(_namespace: string, name: string): Readonly<Record<string, string>> | undefined {
    return this.policies[name];
  }

  subscribe(listener: NamedPolicyListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onProblem(listener: NamedPolicyProblemListener): () => void {
    this.problemListeners.add(listener);
    return () => this.problemListeners.delete(listener);
  }

  /** Reads the policies (CONFIG_INVALID when the file is too large or does not parse), then watches the file. */
  async start(): Promise<void> {
    const signature = await this.signature();
    const loaded = await this.load();
    if (!loaded.ok) {
      throw loaded.tooLarge ?? new AppError('CONFIG_INVALID', `invalid stack file:\n  - ${loaded.problems.join('\n  - ')}`, { details: { problems: loaded.problems } });
    }
    this.policies = loaded.policies;
    this.lastText = loaded.text;
    this.lastStat = signature;
    const file = basename(this.options.path);
    try {
      this.watcher = watch(dirname(this.options.path), (_event, changed) => {
        if (changed === null || changed === file) this.schedule();
      });
      this.watcher.on('error', (err) => this.log.warn('stack file watch failed', { error: err.message, hint: 'changes are still read every poll' }));
    } catch (err) {
      this.log.warn('stack file watch failed', { error: err instanceof Error ? err.message : String(err), hint: 'changes are still read every poll' });
    }
    this.poll = setInterval(() => void this.reload(), this.options.pollIntervalMs ?? 1000);
    this.poll.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    this.stopParse?.();
    await this.running;
  }

  private schedule(): void {
    if (this.debounce !== undefined) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.reload();
    }, this.options.debounceMs ?? 50);
    this.debounce.unref();
  }

  /**
   * Reads the file again if it changed; tells listeners which policies changed. One reload
   * at a time: a change meanwhile is read once the current one is done. Never rejects.
   */
  reload(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.reloadOnce();
        } catch (err) {
          this.log.error('stack file reload failed', { path: this.options.path, error: err instanceof Error ? err.message : String(err) });
        }
      } while (this.again && !this.closed);
      this.running = undefined;
    })();
    return this.running;
  }

  private async reloadOnce(): Promise<void> {
    if (this.closed) return;
    let signature: string;
    try {
      signature = await this.signature();
    } catch (err) {
      // Often a moment of a save (removed, then written): logged, not an event per function.
      this.refuse('stack file unreadable, policies kept', [`${this.options.path}: ${err instanceof Error ? err.message : String(err)}`], {}, false);
      return;
    }
    if (signature === this.lastStat) return;
    const loaded = await this.load();
    if (this.closed) return;
    this.lastStat = signature;
    if (!loaded.ok) {
      const details = loaded.tooLarge?.details;
      if (details !== undefined) this.refuse('stack file too large, policies kept', loaded.problems, { sizeBytes: details['sizeBytes'], maxFileBytes: details['maxFileBytes'] });
      else this.refuse('stack file policies invalid, last good kept', loaded.problems);
      return;
    }
    this.lastProblems = undefined;
    if (loaded.text === this.lastText) return;
    this.lastText = loaded.text;
    const before = this.policies;
    const next = loaded.policies;
    this.policies = next;
    const changed: string[] = [];
    let seen = 0;
    for (const name of new Set([...Object.keys(before), ...Object.keys(next)])) {
      if (++seen % SLICE === 0) await yieldToLoop();
      if (JSON.stringify(before[name]) !== JSON.stringify(next[name])) changed.push(name);
    }
    for (let i = 0; i < changed.length; i++) {
      if (i > 0 && i % SLICE === 0) await yieldToLoop();
      for (const listener of [...this.listeners]) listener(undefined, changed[i] as string);
    }
  }

  /** The file's identity and version: size, modification and change times (ns), device and inode. */
  private async signature(): Promise<string> {
    const s = await stat(this.options.path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  }

  /** Reads (under the size limit) and parses the file's `policies:`, checking them a slice per turn. */
  private async load(): Promise<Loaded> {
    const path = this.options.path;
    let text: string;
    try {
      text = await readTextFileAsync(path, this.options.maxFileBytes, 'ALERT_SCALER_STACK');
    } catch (err) {
      if (isFileTooLarge(err)) return { ok: false, problems: [err.message], tooLarge: err };
      return { ok: false, problems: [`${path}: cannot read: ${err instanceof Error ? err.message : String(err)}`] };
    }
    if (text === this.lastText) return { ok: true, policies: this.policies, text };
    const policies: Record<string, Readonly<Record<string, string>>> = {};
    const problems: string[] = [];
    const parse = readYamlMap(text, { field: 'policies', slice: SLICE }, (entries) => {
      for (const [name, value] of entries) {
        const checked = checkStackPolicy(path, name, value);
        if (checked.ok) policies[name] = checked.policy;
        else if (problems.length < MAX_PROBLEMS) problems.push(...checked.problems.slice(0, MAX_PROBLEMS - problems.length));
      }
    });
    this.stopParse = parse.stop;
    const problem = await parse.done;
    this.stopParse = undefined;
    if (problem !== undefined) return { ok: false, problems: [`${path}: ${problem}`] };
    if (problems.length > 0) return { ok: false, problems };
    return { ok: true, policies, text };
  }

  /** Logs a refused file once (until its problems change) and tells the problem listeners. */
  private refuse(message: string, problems: readonly string[], fields: Record<string, unknown> = {}, notify = true): void {
    const key = JSON.stringify(problems);
    if (key === this.lastProblems) return;
    this.lastProblems = key;
    this.log.warn(message, { path: this.options.path, problems, ...fields });
    if (!notify) return;
    for (const listener of [...this.problemListeners]) listener(problems);
  }
}
