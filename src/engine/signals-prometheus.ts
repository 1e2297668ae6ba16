import axios from 'axios';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { RemoteLoad, RemoteLoadSource } from './signals.js';

/**
 * The one PromQL query per tick: per function, the other gateways' queue by reason, their
 * requests held (`in_flight`) and started (`started`), summed. This gateway's own series are
 * left out by the target they come from: every gateway exports
 * `alert_scaler_gateway_info{gateway_index}` = 1, and `unless on (instance)` drops every
 * series scraped from the target whose info carries this gateway's index.
 */
export function remoteLoadQuery(gatewayIndex: number): string {
  return [
    'sum by (function_name, reason) (',
    '  (',
    '    gateway_function_queue_length',
    '    or label_replace(gateway_function_invocation_inflight, "reason", "in_flight", "", "")',
    '    or label_replace(gateway_function_invocation_started, "reason", "started", "", "")',
    '  )',
    `  unless on (instance) alert_scaler_gateway_info{gateway_index="${gatewayIndex}"}`,
    ')',
  ].join('\n');
}

const answerSchema = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.literal('vector'),
    result: z.array(
      z.object({
        metric: z.object({ function_name: z.string().optional(), reason: z.string().optional() }),
        value: z.tuple([z.number(), z.string()]),
      }),
    ),
  }),
});

type Mutable = { present: number; busy: number; no_replica: number; started: number };

/**
 * The other gateways' load from Prometheus (`remoteLoadQuery`): one instant query for every
 * function. A non-2xx answer, a body that is not a vector, or the signal aborting rejects
 * with METRICS_UNAVAILABLE; a sample that is not a finite number is skipped.
 */
export class PrometheusRemoteLoad implements RemoteLoadSource {
  private readonly url: string;
  private readonly query: string;

  constructor(baseUrl: string, gatewayIndex: number) {
    this.url = new URL('api/v1/query', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).toString();
    this.query = remoteLoadQuery(gatewayIndex);
  }

  async read(signal: AbortSignal): Promise<ReadonlyMap<string, RemoteLoad>> {
    let body: unknown;
    try {
      body = (await axios.get(this.url, { params: { query: this.query }, signal })).data;
    } catch (err) {
      throw new AppError('METRICS_UNAVAILABLE', `remote load query failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const parsed = answerSchema.safeParse(body);
    if (!parsed.success) throw new AppError('METRICS_UNAVAILABLE', 'remote load query: the answer is not an instant vector');
    const sums = new Map<string, Mutable>();
    for (const sample of parsed.data.data.result) {
      const name = sample.metric.function_name;
      const value = Number(sample.value[1]);
      if (name === undefined || !Number.isFinite(value)) continue;
      let sum = sums.get(name);
      if (sum === undefined) {
        sum = { present: 0, busy: 0, no_replica: 0, started: 0 };
        sums.set(name, sum);
      }
      switch (sample.metric.reason) {
        case 'in_flight':
          sum.present = value;
          break;
        case 'busy':
          sum.busy = value;
          break;
        case 'no_replica':
          sum.no_replica = value;
          break;
        case 'started':
          sum.started = value;
          break;
        default:
          break;
      }
    }
    const out = new Map<string, RemoteLoad>();
    for (const [name, sum] of sums) out.set(name, { present: sum.present, queued: { busy: sum.busy, no_replica: sum.no_replica }, started: sum.started });
    return out;
  }
}
