import type http from 'node:http';
import type { Router } from 'express';
import type { Config } from '../config/index.js';
import { systemClock } from '../core/clock.js';
import type { Dispatcher } from '../engine/dispatcher.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { FunctionRef, ReplicaProvider } from '../providers/types.js';
import { createAsyncAccept } from './accept.js';
import { deliveryCap } from './cap.js';
import { LogQueue } from './log-queue.js';
import { openNatsQueue } from './nats-queue.js';
import { asyncRouter } from './routes.js';
import type { AsyncQueue } from './types.js';
import { AsyncWorker } from './worker.js';

export { isAsyncRoute } from './accept.js';
export type { AsyncQueue } from './types.js';

/** The async invocations of one gateway: the route, the admin API, the worker and the queue. */
export interface AsyncParts {
  /** `POST /async-function/<name>[/<path>]` on the raw request. */
  /** `sandboxed`: the call came in on the admin listener (the operator's credentials are not stored with it). */
  readonly accept: (req: http.IncomingMessage, res: http.ServerResponse, sandboxed?: boolean) => void;
  /** `/system/async/dead-letters`, mounted under `/system`. */
  readonly router: Router;
  readonly queue: AsyncQueue;
  /** Stored calls of a function not yet in delivery (the scalers' waiting requests). */
  backlog(ref: FunctionRef): number;
  /** Stored calls of a function, in delivery or not (accepted, not yet acked nor dead-lettered): what the status API and page show. */
  stored(ref: FunctionRef): number;
  /** Sets the gateway's own ports once it listens (callbacks to them are refused). */
  listening(ports: readonly number[]): void;
  /** Starts delivering. */
  start(): void;
  /** Stops delivering and closes the queue: what is not acked is delivered after the next start. */
  /** A graceful stop: no new delivery, those under way get up to `timeoutMs` to finish. */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** What the async parts use of the gateway. */
export interface AsyncDeps {
  readonly dispatcher: Dispatcher;
  readonly provider: Pick<ReplicaProvider, 'getReplicas'>;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** Opens the queue (JetStream when `asyncNatsUrl` is set, else the embedded log in `asyncDir`) and builds the parts around it. */
export async function createAsync(config: Config, deps: AsyncDeps): Promise<AsyncParts> {
  const queue: AsyncQueue =
    config.asyncNatsUrl !== undefined
      ? await openNatsQueue({ servers: config.asyncNatsUrl, clock: systemClock, maxQueued: config.asyncMaxQueued, logger: deps.logger, ackWaitMs: config.asyncAckWaitMs })
      : LogQueue.open({ dir: config.asyncDir, clock: systemClock, maxQueued: config.asyncMaxQueued, maxDeadLetters: 10_000, compactMinBytes: 16 * 1024 * 1024 });
  const worker = new AsyncWorker({
    queue,
    ...deps,
    clock: systemClock,
    defaultNamespace: config.defaultNamespace,
    maxAttempts: config.asyncMaxAttempts,
    retryBaseMs: config.asyncRetryBaseMs,
    workers: config.asyncWorkers,
    bodyLimitBytes: config.bodyLimitBytes,
    deliveryCap: deliveryCap(config),
  });
  let ownPorts: readonly number[] = [config.port, config.adminPort];
  const accept = createAsyncAccept({
    queue,
    dispatcher: deps.dispatcher,
    clock: systemClock,
    logger: deps.logger,
    defaultNamespace: config.defaultNamespace,
    bodyLimitBytes: config.bodyLimitBytes,
    bodyIdleTimeoutMs: config.bodyIdleTimeoutMs,
    trustedProxies: config.trustedProxies,
    ownPorts: () => ownPorts,
  });
  return {
    accept,
    router: asyncRouter(queue),
    queue,
    backlog: (ref) => worker.waiting(ref),
    // A call is stored under the name as requested: `name.namespace`, or `name` in the default namespace.
    stored: (ref) => queue.backlog(`${ref.name}.${ref.namespace}`) + (ref.namespace === config.defaultNamespace ? queue.backlog(ref.name) : 0),
    listening: (ports) => (ownPorts = ports),
    start: () => worker.start(),
    drain: (timeoutMs) => worker.drain(timeoutMs),
    async close() {
      worker.stop();
      await queue.close();
    },
  };
}
