import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../../log/logger.js';
import type { NamedPolicyListener, NamedPolicySource } from '../named-policies.js';
import { parseStackPolicies, type StackPolicies } from './stack.js';

export interface StackPolicySourceOptions {
  /** The stack file. */
  readonly path: string;
  readonly readFile: (path: string) => string;
  readonly logger: Logger;
  /** How often the file is read again in case no watch event came (network file systems, some editors); default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** Quiet time after a watch event before the file is read, so one save reads once; default 50 ms. */
  readonly debounceMs?: number;
}

/**
 * The named policies of the local provider: the stack file's `policies:` map, the same for
 * every namespace. The file is watched (fs.watch on its folder, so a save by rename is seen)
 * with a poll as fallback; a file that no longer parses keeps the last good policies and is
 * logged with its problems. Listeners hear about each policy added, changed or removed.
 */
export class StackPolicySource implements NamedPolicySource {
  private policies: StackPolicies = {};
  private lastText: string | undefined;
  private readonly listeners = new Set<NamedPolicyListener>();
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
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

  /** Reads the policies (CONFIG_INVALID when the file does not parse), then watches the file. */
  async start(): Promise<void> {
    const text = this.options.readFile(this.options.path);
    this.policies = parseStackPolicies(text, this.options.path);
    this.lastText = text;
    const file = basename(this.options.path);
    try {
      this.watcher = watch(dirname(this.options.path), (_event, changed) => {
        if (changed === null || changed === file) this.schedule();
      });
      this.watcher.on('error', (err) => this.log.warn('stack file watch failed', { error: err.message, hint: 'changes are still read every poll' }));
    } catch (err) {
      this.log.warn('stack file watch failed', { error: err instanceof Error ? err.message : String(err), hint: 'changes are still read every poll' });
    }
    this.poll = setInterval(() => this.reload(), this.options.pollIntervalMs ?? 1000);
    this.poll.unref();
  }

  async close(): Promise<void> {
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
  }

  private schedule(): void {
    if (this.debounce !== undefined) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.reload();
    }, this.options.debounceMs ?? 50);
    this.debounce.unref();
  }

  /** Reads the file again; tells listeners which policies changed. Never throws. */
  reload(): void {
    let text: string;
    try {
      text = this.options.readFile(this.options.path);
    } catch (err) {
      this.log.warn('stack file unreadable, policies kept', { path: this.options.path, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    if (text === this.lastText) return;
    this.lastText = text;
    let next: StackPolicies;
    try {
      next = parseStackPolicies(text, this.options.path);
    } catch (err) {
      const problems = (err as { details?: { problems?: unknown } }).details?.problems ?? [err instanceof Error ? err.message : String(err)];
      this.log.warn('stack file policies invalid, last good kept', { path: this.options.path, problems });
      return;
    }
    const before = this.policies;
    this.policies = next;
    const names = new Set([...Object.keys(before), ...Object.keys(next)]);
    for (const name of names) {
      if (JSON.stringify(before[name]) === JSON.stringify(next[name])) continue;
      for (const listener of [...this.listeners]) listener(undefined, name);
    }
  }
}
