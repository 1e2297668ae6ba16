import { AckPolicy, DiscardPolicy, RetentionPolicy, StorageType, connect, headers as natsHeaders, nanos, type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import type { Clock } from '../core/clock.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { AsyncCall, AsyncQueue, DeadLetter, Delivery, DeliveryHandler } from './types.js';

/** Options of the JetStream queue. */
export interface NatsQueueOptions {
  /** NATS server URL(s), comma-separated. */
  readonly servers: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Most calls the work stream holds; a publish past it is refused (QUEUE_FULL). */
  readonly maxQueued: number;
  /** Stream and consumer name prefix (tests use their own). */
  readonly name?: string;
  /** A delivered call not settled within this is delivered again (a crashed gateway's calls), ms. */
  readonly ackWaitMs?: number;
  /** How often the backlog per function is read from the stream, ms. */
  readonly backlogRefreshMs?: number;
}

const DEFAULT_ACK_WAIT_MS = 60_000;
const MAX_DEAD = 10_000;

/** Subject token of a function name: hex, so names with dots stay one token. */
const token = (fn: string): string => Buffer.from(fn).toString('hex');
const untoken = (t: string): string => Buffer.from(t, 'hex').toString();

/**
 * The cluster queue on NATS JetStream: a work-queue stream (`<name>`, subjects
 * `<name>.calls.<fn in hex>`, file storage, discard new at `maxQueued`), one durable pull
 * consumer shared by every gateway (explicit acks; a call not acked within the ack wait goes to
 * another fetch: a crashed gateway's calls are delivered again), a limits stream
 * `<name>_DEAD` for dead letters (subject per call id). The publish's message id is the call
 * id (JetStream's duplicate window drops a repeated publish).
 */
export async function openNatsQueue(options: NatsQueueOptions): Promise<AsyncQueue> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: options.servers.split(',').map((s) => s.trim()), name: 'alert-scaler', maxReconnectAttempts: -1 });
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `ALERT_SCALER_ASYNC_NATS_URL: cannot connect to ${options.servers}`, { cause: err });
  }
  const name = options.name ?? 'ALERT_SCALER_ASYNC';
  const jsm = await nc.jetstreamManager();
  const ensure = async (config: Parameters<JetStreamManager['streams']['add']>[0] & { name: string }): Promise<void> => {
    try {
      await jsm.streams.info(config.name);
      await jsm.streams.update(config.name, config);
    } catch {
      await jsm.streams.add(config);
    }
  };
  await ensure({ name, subjects: [`${name}.calls.*`], retention: RetentionPolicy.Workqueue, storage: StorageType.File, max_msgs: options.maxQueued, discard: DiscardPolicy.New });
  await ensure({ name: `${name}_DEAD`, subjects: [`${name}.dead.*`], retention: RetentionPolicy.Limits, storage: StorageType.File, max_msgs: MAX_DEAD, max_msgs_per_subject: 1 });
  const ackWaitMs = options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  await jsm.consumers.add(name, { durable_name: `${name}_WORKER`, ack_policy: AckPolicy.Explicit, ack_wait: nanos(ackWaitMs), max_deliver: -1 }).catch(async () => {
    await jsm.consumers.update(name, `${name}_WORKER`, { ack_wait: nanos(ackWaitMs) });
  });
  const js = nc.jetstream();
  const queue = new NatsQueue(nc, js, jsm, await js.consumers.get(name, `${name}_WORKER`), name, ackWaitMs, options);
  await queue.refresh();
  return queue;
}

class NatsQueue implements AsyncQueue {
  private counts = new Map<string, number>();
  private handler: DeliveryHandler | null = null;
  private maxInFlight = 1;
  private inFlight = 0;
  private room: (() => void) | null = null;
  private closed = false;
  private looping: Promise<void> = Promise.resolve();
  private readonly refresher: ReturnType<typeof setInterval>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly consumer: Consumer,
    private readonly name: string,
    private readonly ackWaitMs: number,
    private readonly options: NatsQueueOptions,
  ) {
    this.refresher = setInterval(() => void this.refresh().catch(() => undefined), options.backlogRefreshMs ?? 1000);
    this.refresher.unref();
  }

  /** Reads the stored calls per subject (function) from the stream. */
  async refresh(): Promise<void> {
    const info = await this.jsm.streams.info(this.name, { subjects_filter: '>' });
    const counts = new Map<string, number>();
    for (const [subject, n] of Object.entries(info.state.subjects ?? {})) counts.set(untoken(subject.slice(this.name.length + 7)), n);
    this.counts = counts;
  }

  async enqueue(call: AsyncCall): Promise<void> {
    if (this.closed) throw new AppError('SHUTTING_DOWN', 'the async queue is closed');
    try {
      await this.js.publish(`${this.name}.calls.${token(call.fn)}`, JSON.stringify(call), { msgID: call.id });
    } catch (err) {
      if (/maximum messages exceeded|resource limits/i.test((err as Error).message)) throw new AppError('QUEUE_FULL', 'the async queue is full', { cause: err, details: { reason: 'async' } });
      // Stored as base64 JSON, a body is about 4/3 of its size: one under the body limit can pass the server's max_payload (1 MB by default). It will never fit: 413, not a 503 to retry.
      if (/MAX_PAYLOAD_EXCEEDED|maximum payload exceeded/i.test(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`)) {
        throw new AppError('BODY_TOO_LARGE', "the call is over the NATS server's max_payload (raise max_payload, or send a smaller body)", { cause: err });
      }
      throw new AppError('PROVIDER_UNAVAILABLE', 'the async queue (NATS) did not store the call', { cause: err });
    }
    this.counts.set(call.fn, (this.counts.get(call.fn) ?? 0) + 1);
  }

  consume(handler: DeliveryHandler, maxInFlight: number): void {
    this.handler = handler;
    this.maxInFlight = Math.max(1, maxInFlight);
    this.looping = this.loop();
  }

  /** Fetches as many calls as there is room for, hands them over, and waits for room again. */
  private async loop(): Promise<void> {
    while (!this.closed) {
      if (this.inFlight >= this.maxInFlight) {
        await new Promise<void>((resolve) => (this.room = resolve));
        continue;
      }
      try {
        const batch = await this.consumer.fetch({ max_messages: this.maxInFlight - this.inFlight, expires: 1000 });
        for await (const m of batch) {
          if (this.closed) break;
          let delivery: Delivery;
          try {
            delivery = this.delivery(m);
          } catch (err) {
            // Not a call this gateway stored (bad JSON): never delivered again.
            this.options.logger.warn('async message dropped', { error: (err as Error).message, seq: m.seq });
            m.term();
            continue;
          }
          this.inFlight += 1;
          this.handler?.(delivery);
        }
      } catch (err) {
        if (this.closed) return;
        this.options.logger.warn('async fetch failed', { error: (err as Error).message });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private delivery(m: JsMsg): Delivery {
    const call = JSON.parse(m.string()) as AsyncCall;
    if (typeof call?.id !== 'string' || typeof call.fn !== 'string' || typeof call.body !== 'string') throw new Error('not an async call');
    let settled = false;
    // Longer deliveries (a wake, a slow function) tell the server they are still at work.
    const beat = setInterval(() => m.working(), Math.max(100, Math.floor(this.ackWaitMs / 3)));
    beat.unref();
    const settle = async (act: () => Promise<void> | void): Promise<void> => {
      if (settled) return;
      settled = true;
      clearInterval(beat);
      try {
        await act();
      } finally {
        this.inFlight -= 1;
        this.room?.();
        this.room = null;
      }
    };
    const done = (): void => {
      const n = (this.counts.get(call.fn) ?? 1) - 1;
      if (n <= 0) this.counts.delete(call.fn);
      else this.counts.set(call.fn, n);
    };
    return {
      call,
      attempt: m.info.deliveryCount,
      ack: () => settle(async () => {
        await m.ackAck();
        done();
      }),
      nack: (delayMs) => settle(() => m.nak(delayMs)),
      deadLetter: (reason) =>
        settle(async () => {
          const h = natsHeaders();
          h.set('Reason', reason.slice(0, 200));
          const record = { call, reason, attempts: m.info.deliveryCount, at: this.options.clock.now() } satisfies DeadLetter;
          await this.js.publish(`${this.name}.dead.${call.id}`, JSON.stringify(record), { headers: h });
          await m.ackAck();
          done();
        }),
    };
  }

  backlog(fn: string): number {
    return this.counts.get(fn) ?? 0;
  }

  backlogs(): ReadonlyMap<string, number> {
    return this.counts;
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const stream = `${this.name}_DEAD`;
    const info = await this.jsm.streams.info(stream);
    const out: DeadLetter[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && out.length < limit && info.state.messages > 0; seq++) {
      try {
        const sm = await this.jsm.streams.getMessage(stream, { seq });
        out.push(sm.json<DeadLetter>());
      } catch {
        // deleted (replayed): skip
      }
    }
    return out;
  }

  async replay(id: string): Promise<boolean> {
    if (!/^[A-Za-z0-9-]{1,100}$/.test(id)) return false;
    const stream = `${this.name}_DEAD`;
    let sm;
    try {
      sm = await this.jsm.streams.getMessage(stream, { last_by_subj: `${this.name}.dead.${id}` });
    } catch {
      return false;
    }
    const { call } = sm.json<DeadLetter>();
    // A new message (a new id for the duplicate window): its attempts start at 1 again.
    await this.js.publish(`${this.name}.calls.${token(call.fn)}`, JSON.stringify(call), { msgID: `${call.id}-replay-${sm.seq}` });
    await this.jsm.streams.deleteMessage(stream, sm.seq);
    this.counts.set(call.fn, (this.counts.get(call.fn) ?? 0) + 1);
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.refresher);
    this.room?.();
    // A fetch under way ends at its expiry (1 s): closing under it makes the client log an error.
    await Promise.race([this.looping, new Promise((r) => setTimeout(r, 2000).unref())]);
    await this.nc.close();
  }
}
