import type { Logger } from '../log/logger.js';
import { overlayPolicy, policyNameOf, translateNamedPolicy, type NamedPolicyDefaults } from '../policy/named.js';
import type { NamedPolicySource } from '../providers/named-policies.js';
import {
  functionLabel, type CrashListener, type CrashLoop, type FunctionInfo, type ReplicaCrash, type FunctionRef, type ReplicaInfo, type ReplicaListener, type ReplicaProvider, type ReplicaState, type ScaleWrite,
} from '../providers/types.js';

/**
 * What happened to one function's named policy. `changed`: its effective labels changed (a
 * good edit, the policy removed); `invalid`: an edit was refused, the last good policy (if
 * any) still applies. `desired` is the function's count as the provider reported it.
 */
export type NamedPolicyReport =
  | { readonly kind: 'changed'; readonly ref: FunctionRef; readonly policy: string; readonly desired: number }
  | {
    readonly kind: 'invalid'; readonly ref: FunctionRef; readonly policy: string; readonly desired: number;
    readonly problems: readonly string[]; readonly keys: readonly string[]; readonly kept: boolean;
  };

export interface NamedPolicyProviderOptions {
  readonly logger: Logger;
  /** The config's defaults, for checking a policy as a whole. */
  readonly defaults: NamedPolicyDefaults;
  readonly defaultNamespace: string;
}

interface PolicyEntry {
  /** The last good policy's labels; undefined when there never was one (or it was removed). */
  good: Readonly<Record<string, string>> | undefined;
  /** The data last looked at, as JSON, so an unchanged reload does nothing. */
  seen: string | undefined;
  /** The problems of the data last looked at; empty when it was good. */
  problems: readonly string[];
  keys: readonly string[];
  /** A missing policy is warned about once until it appears. */
  missingWarned: boolean;
}

/**
 * A provider decorator: a function labelled `com.openfaas.scale.policy=<name>` runs with the
 * labels of that named policy on top of its own (see `overlayPolicy`), in `getReplicas`,
 * `listFunctions` and what subscribers receive, so every consumer (change cycle, dispatcher,
 * policy loop, idler, API) sees the effective labels. When a policy changes, subscribers get
 * each function that names it again and `onReport` listeners hear about it (someone acts: see
 * src/engine/policy-reload.ts). An invalid edit keeps the last good policy and is logged with
 * the keys at fault; a missing policy leaves the function's own labels, warned once.
 */
export class NamedPolicyProvider implements ReplicaProvider {
  private readonly entries = new Map<string, PolicyEntry>();
  private readonly listeners = new Set<ReplicaListener>();
  private readonly reporters = new Set<(report: NamedPolicyReport) => void>();
  private readonly log: Logger;
  private unsubscribeSource: (() => void) | undefined;
  private unsubscribeProblems: (() => void) | undefined;
  /** Whether the source has loaded: before that a policy not found is not yet missing. */
  private loaded = false;

  constructor(
    readonly inner: ReplicaProvider,
    private readonly source: NamedPolicySource,
    private readonly options: NamedPolicyProviderOptions,
  ) {
    this.log = options.logger.child({ component: 'named-policies' });
  }

  get kind(): string {
    return this.inner.kind;
  }

  async getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    return this.overlay(ref, await this.inner.getReplicas(ref));
  }

  setReplicas(ref: FunctionRef, replicas: number, write?: ScaleWrite): Promise<void> {
    return this.inner.setReplicas(ref, replicas, write);
  }

  async listFunctions(): Promise<FunctionInfo[]> {
    return (await this.inner.listFunctions()).map((fn) => this.overlay(fn.ref, fn));
  }

  listReplicas(ref: FunctionRef): readonly ReplicaInfo[] {
    return this.inner.listReplicas(ref);
  }

  removeReplicas(ref: FunctionRef, ids: readonly string[], write?: ScaleWrite): Promise<void> {
    return this.inner.removeReplicas(ref, ids, write);
  }

  crashLoop(ref: FunctionRef): CrashLoop | null {
    return this.inner.crashLoop?.(ref) ?? null;
  }

  lastCrash(ref: FunctionRef): ReplicaCrash | null {
    return this.inner.lastCrash?.(ref) ?? null;
  }

  hurry(ref: FunctionRef): void {
    this.inner.hurry?.(ref);
  }

  onCrash(listener: CrashListener): () => void {
    return this.inner.onCrash?.(listener) ?? (() => undefined);
  }

  subscribe(listener: ReplicaListener): () => void {
    this.listeners.add(listener);
    const off = this.inner.subscribe((ref, state, changes) => listener(ref, this.overlay(ref, state), changes));
    return () => {
      this.listeners.delete(listener);
      off();
    };
  }

  /** Listens to policy changes and refusals per function; returns the unsubscribe function. */
  onReport(listener: (report: NamedPolicyReport) => void): () => void {
    this.reporters.add(listener);
    return () => this.reporters.delete(listener);
  }

  /** Starts the inner provider, then loads and watches the policies. */
  async start(): Promise<void> {
    await this.inner.start();
    this.unsubscribeSource = this.source.subscribe((namespace, name) => {
      this.reload(namespace, name).catch((err: unknown) => {
        this.log.error('named policy reload failed', { policy: name, error: err instanceof Error ? err.message : String(err) });
      });
    });
    this.unsubscribeProblems = this.source.onProblem?.((problems) => {
      this.refused(problems).catch((err: unknown) => {
        this.log.error('named policy reload failed', { error: err instanceof Error ? err.message : String(err) });
      });
    });
    await this.source.start();
    this.loaded = true;
    // A replica event during the load (the inner provider's start) looked its policy up before
    // the source had it, and its subscribers heard the function's own labels: they hear again.
    const changed = new Set<string>();
    for (const [key, entry] of this.entries) {
      const [namespace, name] = splitKey(key);
      if (this.refresh(namespace, name, entry) === 'changed') changed.add(key);
    }
    if (changed.size === 0) return;
    for (const fn of await this.inner.listFunctions()) {
      const policy = policyNameOf(fn.labels, fn.annotations);
      if (policy !== undefined && changed.has(`${fn.ref.namespace}/${policy}`)) this.notify(fn);
    }
  }

  async close(): Promise<void> {
    this.unsubscribeSource?.();
    this.unsubscribeProblems?.();
    await this.source.close();
    await this.inner.close();
  }

  /** The state with the function's named policy on top of its labels (unchanged without one). */
  private overlay<S extends ReplicaState>(ref: FunctionRef, state: S): S {
    const name = policyNameOf(state.labels, state.annotations);
    if (name === undefined) return state;
    const entry = this.entry(ref.namespace, name);
    if (entry.good === undefined) {
      if (this.loaded && entry.seen === undefined && !entry.missingWarned) {
        entry.missingWarned = true;
        this.log.warn('named policy missing', { function: this.label(ref), policy: name, hint: 'the function\'s own labels apply' });
      }
      return state;
    }
    return { ...state, labels: overlayPolicy(state.labels, entry.good) };
  }

  /** The policy's entry, loaded from the source the first time it is asked for. */
  private entry(namespace: string, name: string): PolicyEntry {
    const key = `${namespace}/${name}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { good: undefined, seen: undefined, problems: [], keys: [], missingWarned: false };
      this.entries.set(key, entry);
      this.refresh(namespace, name, entry);
    }
    return entry;
  }

  /**
   * Reads the policy from the source into its entry: `same` (data unchanged), `changed` (the
   * effective labels changed: a good edit, or the policy removed), `invalid` (new data refused;
   * the last good policy stays), `kept` (new data, same labels).
   */
  private refresh(namespace: string, name: string, entry: PolicyEntry): 'same' | 'changed' | 'invalid' | 'kept' {
    const data = this.source.get(namespace, name);
    const seen = data === undefined ? undefined : JSON.stringify(Object.entries(data).sort());
    if (seen === entry.seen) return 'same';
    entry.seen = seen;
    const before = entry.good;
    if (data === undefined) {
      entry.good = undefined;
      entry.problems = [];
      entry.keys = [];
      this.log.warn('named policy removed', { policy: name, namespace, hint: 'functions naming it run with their own labels' });
      return before === undefined ? 'kept' : 'changed';
    }
    entry.missingWarned = false;
    const translated = translateNamedPolicy(data, this.options.defaults);
    entry.problems = translated.problems;
    entry.keys = translated.keys;
    if (translated.problems.length > 0) {
      this.log.warn('named policy invalid', {
        policy: name, namespace, keys: translated.keys, problems: translated.problems,
        kept: before === undefined ? 'the functions\' own labels' : 'the last good policy',
      });
      return 'invalid';
    }
    entry.good = translated.labels;
    if (JSON.stringify(before) === JSON.stringify(entry.good)) return 'kept';
    this.log.info('named policy applied', { policy: name, namespace, labels: entry.good });
    return 'changed';
  }

  /** A policy may have changed: re-read it, then tell subscribers and reporters about each function naming it. */
  private async reload(namespace: string | undefined, name: string): Promise<void> {
    const outcome = new Map<string, { result: ReturnType<NamedPolicyProvider['refresh']>; entry: PolicyEntry }>();
    for (const [key, entry] of this.entries) {
      const [ns, policy] = splitKey(key);
      if (policy !== name || (namespace !== undefined && ns !== namespace)) continue;
      outcome.set(ns, { result: this.refresh(ns, name, entry), entry });
    }
    if (outcome.size === 0) {
      // No function asked for this policy yet: load it now, so its problems are logged at once.
      if (namespace !== undefined) this.entry(namespace, name);
      return;
    }
    const functions = await this.inner.listFunctions();
    for (const fn of functions) {
      if (policyNameOf(fn.labels, fn.annotations) !== name) continue;
      const found = outcome.get(fn.ref.namespace);
      if (found === undefined) continue;
      const { result, entry } = found;
      if (result === 'invalid') {
        this.report({ kind: 'invalid', ref: fn.ref, policy: name, desired: fn.desired, problems: entry.problems, keys: entry.keys, kept: entry.good !== undefined });
      } else if (result === 'changed') {
        this.notify(fn);
        this.report({ kind: 'changed', ref: fn.ref, policy: name, desired: fn.desired });
      }
    }
  }

  /** The source refused new data as a whole: each function naming a policy hears that its policy stays as it was. */
  private async refused(problems: readonly string[]): Promise<void> {
    for (const fn of await this.inner.listFunctions()) {
      const policy = policyNameOf(fn.labels, fn.annotations);
      if (policy === undefined) continue;
      const kept = this.entries.get(`${fn.ref.namespace}/${policy}`)?.good !== undefined;
      this.report({ kind: 'invalid', ref: fn.ref, policy, desired: fn.desired, problems, keys: [], kept });
    }
  }

  /** Tells subscribers the function's state with its effective labels (no replica changed: no `changes`). */
  private notify(fn: FunctionInfo): void {
    const { ref, ...state } = fn;
    const effective = this.overlay(ref, state);
    for (const listener of [...this.listeners]) listener(ref, effective);
  }

  private report(report: NamedPolicyReport): void {
    for (const listener of [...this.reporters]) {
      try {
        listener(report);
      } catch (err) {
        this.log.error('named policy listener failed', { policy: report.policy, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  private label(ref: FunctionRef): string {
    return functionLabel(ref, this.options.defaultNamespace);
  }
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}
