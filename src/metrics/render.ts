import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';

/*
 * The Prometheus text of a registry, written from the metrics' stored series in slices that
 * yield to the event loop, instead of prom-client's `registry.metrics()` (which builds an object
 * per sample, 15 per histogram series, and formats every metric in one synchronous run: at
 * 10,000 functions about 400,000 lines and a block of the whole render).
 *
 * The text is prom-client 15's, sample for sample: the same metric order, HELP and TYPE lines,
 * label order (a histogram's `le` first, as prom-client writes it), escaping and value format.
 * It reads prom-client's stored series (`hashMap`, a histogram's `upperBounds`), which its
 * typings do not declare: test/metrics/render.test.ts renders the same state both ways and
 * fails if an upgrade changes either. A metric of another kind (a Summary, a custom Metric) is
 * written by prom-client itself; so is the whole registry when it is not Prometheus text or has
 * default labels.
 */

/** A stored counter or gauge series: its labels as first set and its value. */
interface ValueEntry {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/** A stored histogram series: per-bound (not cumulative) counts, keyed by the bound. */
interface HistogramEntry {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly bucketValues: Readonly<Record<number, number>>;
  readonly sum: number;
  readonly count: number;
}

/** What prom-client keeps on a Counter, Gauge or Histogram (not in its typings). */
interface Stored<E> {
  readonly name: string;
  readonly help: string;
  readonly hashMap: Readonly<Record<string, E>>;
  readonly collect?: () => unknown;
  readonly upperBounds?: readonly number[];
}

/** Lines written between two yields to the event loop. */
export const DEFAULT_SLICE_LINES = 2000;

/** Options of a render (tests shorten the slices and count the yields). */
export interface RenderOptions {
  /** Lines written between two yields; default DEFAULT_SLICE_LINES. */
  readonly sliceLines?: number;
  /** How the render yields; default a setImmediate (every timer and I/O callback due runs first). */
  readonly yieldToLoop?: () => Promise<void>;
}

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** prom-client's value text: `Nan`, `+Inf`, `-Inf` or the number. */
function valueText(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

const escapeText = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

const NEEDS_ESCAPE = /[\\\n"]/;

/** prom-client's label value text: a string escaped (most need nothing: returned as they are), anything else as is. */
const labelValue = (v: unknown): string => (typeof v !== 'string' ? `${v as number}` : NEEDS_ESCAPE.test(v) ? escapeText(v).replace(/"/g, '\\"') : v);

/** `a="x",b="y"` for a labels object, in its key order. */
function labelPairs(labels: Readonly<Record<string, unknown>>): string {
  let out = '';
  for (const key in labels) out += `${out === '' ? '' : ','}${key}="${labelValue(labels[key])}"`;
  return out;
}

/**
 * Writes lines and yields every `sliceLines` of them. Each full slice becomes a Buffer at once
 * (one join, one encode), so no string of the whole text is ever built and the slices' strings
 * die young; `end()` gives the slices (written to the socket one by one: no copy of the whole).
 */
class SlicedWriter {
  private readonly chunks: Buffer[] = [];
  private parts: string[] = [];
  private lines = 0;

  constructor(
    private readonly sliceLines: number,
    private readonly yieldToLoop: () => Promise<void>,
  ) {}

  /** Appends `text` (which holds `lines` lines). */
  write(text: string, lines: number): void {
    this.parts.push(text);
    this.lines += lines;
  }

  /** Yields to the event loop when a slice is full. */
  async breathe(): Promise<void> {
    if (this.lines < this.sliceLines) return;
    this.flush();
    await this.yieldToLoop();
  }

  /** Every slice written, in order. */
  end(): Buffer[] {
    this.flush();
    return this.chunks;
  }

  private flush(): void {
    if (this.parts.length > 0) this.chunks.push(Buffer.from(this.parts.join(''), 'utf8'));
    this.parts = [];
    this.lines = 0;
  }
}

async function collected(metric: Stored<unknown>): Promise<void> {
  if (metric.collect === undefined) return;
  const result = metric.collect();
  if (result instanceof Promise) await result;
}

async function writeValues(out: SlicedWriter, name: string, metric: Stored<ValueEntry>): Promise<void> {
  for (const entry of Object.values(metric.hashMap)) {
    const pairs = labelPairs(entry.labels);
    out.write(`\n${name}${pairs === '' ? '' : `{${pairs}}`} ${valueText(entry.value)}`, 1);
    await out.breathe();
  }
}

async function writeHistogram(out: SlicedWriter, name: string, metric: Stored<HistogramEntry>, bounds: readonly number[]): Promise<void> {
  for (const entry of Object.values(metric.hashMap)) {
    const pairs = labelPairs(entry.labels);
    const shared = pairs === '' ? '' : `,${pairs}`;
    let text = '';
    let acc = 0;
    for (const bound of bounds) {
      acc += entry.bucketValues[bound] ?? 0;
      text += `\n${name}_bucket{le="${bound}"${shared}} ${valueText(acc)}`;
    }
    const own = pairs === '' ? '' : `{${pairs}}`;
    text += `\n${name}_bucket{le="+Inf"${shared}} ${valueText(entry.count)}\n${name}_sum${own} ${valueText(entry.sum)}\n${name}_count${own} ${valueText(entry.count)}`;
    out.write(text, bounds.length + 3);
    await out.breathe();
  }
}

/** One metric's text (after its collect), or false when prom-client must write it. */
async function writeMetric(out: SlicedWriter, metric: Metric): Promise<boolean> {
  const stored = metric as unknown as Stored<unknown>;
  const isValue = metric instanceof Counter || metric instanceof Gauge;
  const bounds = metric instanceof Histogram ? stored.upperBounds : undefined;
  if ((!isValue && bounds === undefined) || typeof stored.hashMap !== 'object' || stored.hashMap === null) return false;
  await collected(stored);
  const name = escapeText(stored.name);
  const type = isValue ? (metric instanceof Counter ? 'counter' : 'gauge') : 'histogram';
  out.write(`# HELP ${name} ${escapeText(stored.help)}\n# TYPE ${name} ${type}`, 2);
  if (bounds === undefined) await writeValues(out, name, stored as Stored<ValueEntry>);
  else await writeHistogram(out, name, stored as Stored<HistogramEntry>, bounds);
  return true;
}

/** Whether the registry adds default labels to every sample (alert-scaler sets none; prom-client then writes it all). */
function hasDefaultLabels(registry: Registry): boolean {
  const labels = (registry as unknown as { _defaultLabels?: object })._defaultLabels;
  return labels !== undefined && Object.keys(labels).length > 0;
}

/**
 * The registry's Prometheus text, as `registry.metrics()` writes it, in UTF-8 slices, yielding to
 * the event loop every `sliceLines` lines (so a scrape of many functions never holds the loop for long).
 */
export async function renderMetricsChunks(registry: Registry, options: RenderOptions = {}): Promise<Buffer[]> {
  if (registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE || hasDefaultLabels(registry)) return [Buffer.from(await registry.metrics(), 'utf8')];
  const out = new SlicedWriter(Math.max(1, options.sliceLines ?? DEFAULT_SLICE_LINES), options.yieldToLoop ?? immediate);
  let first = true;
  for (const metric of registry.getMetricsAsArray()) {
    if (!first) out.write('\n\n', 0);
    first = false;
    // getMetricsAsArray is typed as plain objects; the entries are the registered metrics.
    if (!(await writeMetric(out, metric as unknown as Metric))) out.write(await registry.getSingleMetricAsString(metric.name), 0);
    await out.breathe();
  }
  out.write('\n', 0);
  return out.end();
}

/** renderMetricsChunks's text as one string. */
export async function renderMetrics(registry: Registry, options: RenderOptions = {}): Promise<string> {
  return Buffer.concat(await renderMetricsChunks(registry, options)).toString('utf8');
}

/**
 * Renders a registry for `GET /metrics`; scrapes that arrive while a render runs share it (so
 * scrapes piling up behind a slow render never multiply its cost).
 */
export class MetricsRenderer {
  private running: Promise<readonly Buffer[]> | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly options: RenderOptions = {},
  ) {}

  /** The registry's text now, or that of the render under way. */
  render(): Promise<readonly Buffer[]> {
    this.running ??= renderMetricsChunks(this.registry, this.options).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }
}

const renderers = new WeakMap<Registry, MetricsRenderer>();

/** The registry's text (UTF-8 slices) for a scrape: one MetricsRenderer per registry, shared by every listener that serves it. */
export function scrapeBody(registry: Registry): Promise<readonly Buffer[]> {
  let renderer = renderers.get(registry);
  if (renderer === undefined) renderers.set(registry, (renderer = new MetricsRenderer(registry)));
  return renderer.render();
}
