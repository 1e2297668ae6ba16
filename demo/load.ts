/** Counts of one load run. */
export interface LoadStats {
  /** Requests started. */
  sent: number;
  /** Responses by HTTP status; `error` for requests that got no response. */
  readonly codes: Record<string, number>;
}

/** A running load generator. */
export interface Load {
  /** Counts so far. */
  stats(): LoadStats;
  /** Stops sending and resolves once every request in flight has finished. */
  stop(): Promise<LoadStats>;
}

export interface LoadOptions {
  /** Must be on 127.0.0.1 or localhost: this generator never leaves the machine. */
  readonly url: string;
  /** Requests started per second. */
  readonly ratePerSecond: number;
  /** Hard bound: no more than this many requests in total. */
  readonly maxRequests: number;
  /** Per-request timeout in ms. */
  readonly timeoutMs?: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Sends POST requests at a fixed rate until stopped or `maxRequests` have been sent. */
export function startLoad(options: LoadOptions): Load {
  const target = new URL(options.url);
  if (!LOOPBACK.has(target.hostname)) throw new Error(`load generator only targets loopback, not ${target.hostname}`);
  if (options.ratePerSecond <= 0 || options.maxRequests <= 0) throw new Error('ratePerSecond and maxRequests must be positive');
  const stats: LoadStats = { sent: 0, codes: {} };
  const inFlight = new Set<Promise<void>>();
  const count = (key: string): void => {
    stats.codes[key] = (stats.codes[key] ?? 0) + 1;
  };
  const fire = (): void => {
    if (stats.sent >= options.maxRequests) {
      clearInterval(timer);
      return;
    }
    stats.sent += 1;
    const request = fetch(target, { method: 'POST', body: 'load', signal: AbortSignal.timeout(options.timeoutMs ?? 5_000) })
      .then(async (response) => {
        await response.arrayBuffer();
        count(String(response.status));
      })
      .catch(() => count('error'))
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  };
  const timer = setInterval(fire, 1000 / options.ratePerSecond);
  return {
    stats: () => ({ sent: stats.sent, codes: { ...stats.codes } }),
    async stop(): Promise<LoadStats> {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      return { sent: stats.sent, codes: { ...stats.codes } };
    },
  };
}
