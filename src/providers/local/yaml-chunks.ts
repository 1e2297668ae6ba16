import { Worker } from 'node:worker_threads';

/**
 * The worker's code, evaluated as a script (a file path would point at .ts under ts-jest):
 * it parses the YAML text, then hands out the entries of one top-level map, a slice per
 * request, so the thread that asks never takes a large structure in one turn.
 */
const WORKER_SOURCE = `(() => {
const { parentPort, workerData } = require('node:worker_threads');
const { createRequire } = require('node:module');
const { load } = createRequire(workerData.base)('js-yaml');
let doc;
try {
  doc = load(workerData.text);
} catch (err) {
  parentPort.postMessage({ type: 'invalid', problem: 'not valid YAML: ' + (err && err.message ? err.message.split('\\n')[0] : String(err)) });
  return;
}
const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const root = doc === undefined || doc === null ? {} : doc;
if (!isMap(root)) {
  parentPort.postMessage({ type: 'invalid', problem: '(root): expected a mapping' });
  return;
}
const map = root[workerData.field] === undefined ? {} : root[workerData.field];
if (!isMap(map)) {
  parentPort.postMessage({ type: 'invalid', problem: workerData.field + ': expected a mapping' });
  return;
}
const keys = Object.keys(map);
let next = 0;
parentPort.on('message', () => {
  const slice = keys.slice(next, next + workerData.slice);
  next += slice.length;
  parentPort.postMessage(slice.length === 0 ? { type: 'end' } : { type: 'entries', entries: slice.map((k) => [k, map[k]]) });
  if (slice.length === 0) parentPort.close();
});
parentPort.postMessage({ type: 'ready', count: keys.length });
})();
`;

type WorkerMessage =
  | { readonly type: 'invalid'; readonly problem: string }
  | { readonly type: 'ready'; readonly count: number }
  | { readonly type: 'entries'; readonly entries: ReadonlyArray<readonly [string, unknown]> }
  | { readonly type: 'end' };

export interface YamlMapOptions {
  /** The top-level key whose map is read (`policies`); absent means an empty map. */
  readonly field: string;
  /** Entries handed over per turn of the event loop. */
  readonly slice: number;
  /** The worker is stopped past this long (a pathological document); default 30 s. */
  readonly timeoutMs?: number;
  /** Heap of the worker, MB (a YAML document can expand well past its text); default 512. */
  readonly maxHeapMb?: number;
}

/** A parse started with readYamlMap; `stop` ends it early (the worker is terminated). */
export interface YamlMapRead {
  /** Resolves with the problem (the text is not YAML, not a mapping, ...) or undefined when every slice was handed over. */
  readonly done: Promise<string | undefined>;
  stop(): void;
}

/**
 * Parses YAML `text` on a worker thread (js-yaml takes seconds on a few megabytes) and calls
 * `onEntries` with the entries of its top-level map `field`, `slice` at a time: each slice
 * is asked for after the previous one was handled (awaited), so each costs the event loop
 * one small structured clone, never the whole map.
 */
export function readYamlMap(
  text: string,
  options: YamlMapOptions,
  onEntries: (entries: ReadonlyArray<readonly [string, unknown]>) => void | Promise<void>,
): YamlMapRead {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { base: import.meta.url, text, field: options.field, slice: options.slice },
    resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb ?? 512 },
  });
  let settled = false;
  let settle: (problem: string | undefined) => void = () => undefined;
  const done = new Promise<string | undefined>((resolve) => {
    settle = (problem) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(problem);
    };
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const timer = setTimeout(() => settle(`not parsed within ${timeoutMs} ms`), timeoutMs);
  timer.unref();
  worker.on('message', (message: WorkerMessage) => {
    if (settled) return;
    switch (message.type) {
      case 'invalid':
        settle(message.problem);
        return;
      case 'end':
        settle(undefined);
        return;
      case 'ready':
        worker.postMessage('next');
        return;
      case 'entries':
        Promise.resolve(onEntries(message.entries)).then(
          () => {
            if (!settled) worker.postMessage('next');
          },
          (err: unknown) => settle(err instanceof Error ? err.message : String(err)),
        );
    }
  });
  worker.on('error', (err) => settle(`not parsed: ${err.message}`));
  worker.on('exit', (code) => settle(`not parsed: the parser stopped (exit code ${code})`));
  return { done, stop: () => settle('stopped') };
}
