/*
 * One Prometheus text for several gateway processes sharing a port (config `workers`): a
 * scrape reaches one worker at random, so it answers for all of them, each sample the sum or
 * the largest of the workers' values for the same name and labels.
 *
 * How each family of src/metrics/registry.ts adds up:
 * - counters and histograms: summed (every call, change and alert is counted by one worker).
 * - gauges of this process's own work, summed: gateway_function_invocation_inflight,
 *   alert_scaler_held_requests, gateway_websocket_connections, gateway_function_queue_length,
 *   gateway_function_async_queue_length (each worker's embedded store is its own; on NATS the
 *   stream is shared: largest, see `sharedAsyncQueue`).
 * - gauges of cluster facts every worker sees alike, the largest: gateway_service_count,
 *   alert_scaler_available_replicas, alert_scaler_replicas, alert_scaler_policy_setting,
 *   alert_scaler_gateway_members, alert_scaler_gateway_info (one series per worker's
 *   gateway_index), and gateway_function_queue_oldest_wait_seconds (the oldest of all).
 * - prom-client's default process metrics: counters and histograms summed (CPU seconds of all
 *   workers), gauges summed (memory, handles, open fds) except the ones below, the largest.
 */

/** Gauges whose workers' values are not added: the answer is the largest. */
export const LARGEST_GAUGES: ReadonlySet<string> = new Set([
  'gateway_service_count',
  'alert_scaler_available_replicas',
  'alert_scaler_replicas',
  'alert_scaler_policy_setting',
  'alert_scaler_gateway_members',
  'alert_scaler_gateway_info',
  'gateway_function_queue_oldest_wait_seconds',
  'process_start_time_seconds',
  'process_max_fds',
  'nodejs_version_info',
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_min_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_eventloop_lag_mean_seconds',
  'nodejs_eventloop_lag_stddev_seconds',
  'nodejs_eventloop_lag_p50_seconds',
  'nodejs_eventloop_lag_p90_seconds',
  'nodejs_eventloop_lag_p99_seconds',
]);

/** The async queue gauge: summed over embedded stores, the largest when the queue is NATS (one stream). */
export const ASYNC_QUEUE_GAUGE = 'gateway_function_async_queue_length';

interface Family {
  help: string | null;
  type: string | null;
  /** Sample key (name and labels, as written) → value, in first-seen order. */
  readonly samples: Map<string, number>;
}

function parseValue(text: string): number {
  if (text === 'Nan' || text === 'NaN') return Number.NaN;
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

/** prom-client's value text. */
function valueText(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

/** The metric name of a sample line: up to `{` or the first space. */
function sampleName(line: string): string {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  return line.slice(0, brace >= 0 && (space < 0 || brace < space) ? brace : space);
}

/**
 * Merges the workers' Prometheus texts into one: families in first-seen order, each sample the
 * sum of the workers' values (counters, histograms, summaries, gauges of per-process work) or
 * the largest (LARGEST_GAUGES; ASYNC_QUEUE_GAUGE too when `sharedAsyncQueue`). A sample only
 * some workers have is theirs alone. Lines are split on `\n`; no sample line is longer than the
 * text that holds it, so the work is linear in the input.
 */
export function mergeMetricTexts(texts: readonly string[], options: { readonly sharedAsyncQueue?: boolean } = {}): string {
  const families = new Map<string, Family>();
  const familyOf = (name: string): Family => {
    let family = families.get(name);
    if (family === undefined) {
      family = { help: null, type: null, samples: new Map() };
      families.set(name, family);
    }
    return family;
  };
  const largest = (name: string, type: string | null): boolean =>
    type === 'gauge' && (LARGEST_GAUGES.has(name) || (name === ASYNC_QUEUE_GAUGE && options.sharedAsyncQueue === true));
  for (const text of texts) {
    let current: { name: string; family: Family } | null = null;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
        const rest = line.slice(7);
        const space = rest.indexOf(' ');
        const name = space < 0 ? rest : rest.slice(0, space);
        const family = familyOf(name);
        if (line.startsWith('# HELP ')) family.help ??= line;
        else family.type ??= space < 0 ? 'untyped' : rest.slice(space + 1);
        current = { name, family };
        continue;
      }
      if (line.startsWith('#')) continue;
      const cut = line.lastIndexOf(' ');
      if (cut <= 0) continue;
      const key = line.slice(0, cut);
      const value = parseValue(line.slice(cut + 1));
      const name = sampleName(line);
      // A histogram's _bucket/_sum/_count lines follow its TYPE line; anything else is a family of its own.
      const family = current !== null && name.startsWith(current.name) ? current : { name, family: familyOf(name) };
      const known = family.family.samples.get(key);
      const merged = known === undefined ? value : largest(family.name, family.family.type) ? Math.max(known, value) : known + value;
      family.family.samples.set(key, merged);
    }
  }
  const out: string[] = [];
  for (const [name, family] of families) {
    out.push(family.help ?? `# HELP ${name} ${name}`);
    out.push(`# TYPE ${name} ${family.type ?? 'untyped'}`);
    for (const [key, value] of family.samples) out.push(`${key} ${valueText(value)}`);
    out.push('');
  }
  return out.join('\n');
}
