// `npm run demo`: Prometheus, Alertmanager and an alert-scaler gateway on 127.0.0.1, a load
// generator in bursts on echo (the alert path), a wake of sleepy from zero, worker scaling on
// its own queue (the queue kind), and a line each time a function's replica count changes.
// Prints the status page's URL and credentials, and why its timing is faster than the shipped
// configs. Stops on Ctrl-C or after DEMO_SECONDS (default 90).
import { join } from 'node:path';
import { queueSegment, wakeSegment } from './segments.js';
import { getJson, repoRoot, startLoad, startStack, toolsOrSkip, type Load, type Stack } from './stack.js';
import { DEMO_ENV, DEMO_TIMING, pageLines, shippedTiming, timingLines } from './timing.js';

const DURATION_SECONDS = Number(process.env['DEMO_SECONDS'] ?? 90);
/** Load for BURST_SECONDS, then quiet for QUIET_SECONDS, and again. */
const BURST_SECONDS = 25;
const QUIET_SECONDS = 20;
const RATE_PER_SECOND = 20;
const AUTH = { user: 'admin', password: 'demo' };
/** When the other segments start, s after start: the wake while echo's first burst runs, the queue kind in its first quiet time. */
const WAKE_AT_SECONDS = 5;
const QUEUE_AT_SECONDS = BURST_SECONDS + 2;
const QUEUE_SECONDS = 12;
const QUEUE_RATE_PER_SECOND = 10;

const started = Date.now();
const say = (message: string): void => {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}`);
};

interface PrometheusAlerts {
  data: { alerts: Array<{ labels: Record<string, string>; state: string }> };
}

async function watchAlerts(stack: Stack, signal: AbortSignal): Promise<void> {
  let last = '';
  while (!signal.aborted) {
    const alerts = await getJson<PrometheusAlerts>(`${stack.monitoring.prometheusUrl}/api/v1/alerts`).catch(() => undefined);
    const now = (alerts?.data.alerts ?? []).map((a) => `${a.labels['alertname']}{function_name="${a.labels['function_name']}"} ${a.state}`).join(', ') || 'none';
    if (now !== last) say(`alerts: ${now}`);
    last = now;
    await new Promise((done) => setTimeout(done, 500));
  }
}

async function main(): Promise<number> {
  if (toolsOrSkip(['prometheus', 'alertmanager'], 'demo') === null) return 1;
  say('starting gateway, Alertmanager and Prometheus on 127.0.0.1 ...');
  const stack = await startStack({
    stackPath: join(repoRoot(), 'demo/functions.yml'),
    basicAuth: AUTH,
    env: DEMO_ENV,
    // A long burst keeps stepping: Alertmanager repeats every 10s, one step per cooldown.
    timing: DEMO_TIMING,
  });
  say(`gateway ${stack.gateway.url} (admin ${stack.gateway.adminUrl})  prometheus ${stack.monitoring.prometheusUrl}  alertmanager ${stack.monitoring.alertmanagerUrl}`);
  for (const line of pageLines(stack.gateway.adminUrl, AUTH)) say(line);
  for (const line of timingLines(DEMO_TIMING, Number(DEMO_ENV['ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS']), shippedTiming(repoRoot()))) say(line);
  say(`running for ${DURATION_SECONDS}s; Ctrl-C stops earlier`);

  const shown = new Map<string, string>();
  const unsubscribe = stack.gateway.provider.subscribe((ref, state) => {
    const line = `${ref.name}: desired ${state.desired}, ready ${state.ready}`;
    if (shown.get(ref.name) !== line) say(line);
    shown.set(ref.name, line);
  });
  const watching = new AbortController();
  const alertsWatch = watchAlerts(stack, watching.signal);
  let load: Load | undefined;
  let loadTimer: NodeJS.Timeout | undefined;
  const burst = (): void => {
    say(`load: ${RATE_PER_SECOND} requests/s on /function/echo for ${BURST_SECONDS}s`);
    load = startLoad({ url: `${stack.gateway.url}/function/echo`, ratePerSecond: RATE_PER_SECOND, maxRequests: RATE_PER_SECOND * BURST_SECONDS });
    loadTimer = setTimeout(() => {
      void load?.stop().then((stats) => {
        say(`load stopped: ${stats.sent} sent, responses ${JSON.stringify(stats.codes)}; quiet for ${QUIET_SECONDS}s`);
        loadTimer = setTimeout(burst, QUIET_SECONDS * 1000);
      });
    }, BURST_SECONDS * 1000);
  };
  burst();
  // The other segments, each once, each bounded; a failure is a line, not the end of the demo.
  const segments: Array<Promise<unknown>> = [];
  const later = (seconds: number, run: () => Promise<unknown>): NodeJS.Timeout =>
    setTimeout(() => segments.push(run().catch((err: unknown) => say(`segment failed: ${err instanceof Error ? err.message : String(err)}`))), seconds * 1000);
  const segmentTimers = [
    later(WAKE_AT_SECONDS, () => wakeSegment(stack.gateway, say)),
    later(QUEUE_AT_SECONDS, () => queueSegment(stack.gateway, say, { seconds: QUEUE_SECONDS, ratePerSecond: QUEUE_RATE_PER_SECOND })),
  ];

  await new Promise<void>((done) => {
    const timer = setTimeout(done, DURATION_SECONDS * 1000);
    const stop = (): void => {
      clearTimeout(timer);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  say('stopping ...');
  setTimeout(() => process.exit(1), 30_000).unref();
  // A terminal's Ctrl-C also reaches the replicas; their restarts are not news any more.
  unsubscribe();
  clearTimeout(loadTimer);
  segmentTimers.forEach(clearTimeout);
  await load?.stop();
  await Promise.all(segments);
  watching.abort();
  await alertsWatch;
  await stack.close();
  say('stopped');
  return 0;
}

// A second Ctrl-C, or a stop that hangs, ends the process anyway; started children are
// killed by PID in demo/stack.ts's exit hook.
process.on('SIGINT', () => {
  process.once('SIGINT', () => process.exit(130));
});
main()
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  });
