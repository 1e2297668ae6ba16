import type { GatewayParts } from '../compose/gateway.js';
import type { Logger } from '../log/logger.js';
import type { ProviderSetup } from '../providers/setup.js';
import type { GatewayApp } from './app.js';
import type { Listeners } from './listeners.js';

/** How long queued calls' 503 answers get to reach their clients before the sockets close. */
const HELD_ANSWER_FLUSH_MS = 500;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** What a graceful stop ends, in its order. */
export interface ClosingParts {
  readonly parts: GatewayParts;
  readonly app: GatewayApp;
  readonly listeners: Listeners;
  readonly setup: ProviderSetup;
  /** Stops the replica gauges' subscription (src/bootstrap/provider.ts). */
  readonly unsubscribe: () => void;
  /** Called first: `/readyz` answers 503 from then on. */
  readonly notReady: () => void;
  readonly logger: Logger;
  /** Time in-flight calls get to finish, ms. */
  readonly shutdownTimeoutMs: number;
  /** Async deliveries under way finish within the same time (none when absent). */
  readonly drainAsync?: (timeoutMs: number) => Promise<void>;
}

/**
 * The gateway's graceful stop, run once however often it is called: no new connections;
 * in-flight requests get `shutdownTimeoutMs` to finish, then every call without an answer yet
 * (running on a replica or waiting in a dispatch queue) is answered 503 SHUTTING_DOWN with
 * Retry-After, a call whose answer has begun is cut, and the remaining connections close;
 * replicas stop.
 */
export function gracefulClose(closing: ClosingParts): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= closeOnce(closing);
    return done;
  };
}

async function closeOnce(closing: ClosingParts): Promise<void> {
  const { parts, app, listeners, setup } = closing;
  const { engine, scaler } = parts;
  const { server, adminServer } = listeners;
  const ownServer = listeners.own?.server;
  const servers = ownServer === undefined ? [server, adminServer] : [server, adminServer, ownServer];
  closing.notReady();
  // Live streams never finish by themselves: end them first, so they do not hold the close.
  app.stream.close();
  // So do WebSockets: each gets close 1001 now (upgraded sockets are no longer the server's to close).
  app.app.closeSockets();
  await scaler.stop();
  // Leave the gateways at once (Kubernetes: release the buckets, delete the member Lease): the
  // others take its share and stop forwarding here while its calls drain.
  await setup.stop?.();
  const drained = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  for (const s of servers) s.closeIdleConnections();
  listeners.h2.closeIdle();
  listeners.own?.h2.closeIdle();
  // Async calls being delivered finish too, while the dispatcher and the replicas still run.
  const asyncDrained = closing.drainAsync?.(closing.shutdownTimeoutMs) ?? Promise.resolve();
  await Promise.race([Promise.all([drained, asyncDrained]), delay(closing.shutdownTimeoutMs)]);
  // Calls still running on a replica or queued (a waking function, busy replicas) get their
  // 503 SHUTTING_DOWN (with Retry-After) before their sockets close, not a reset (a call
  // whose answer has begun can only be cut); the answers get a moment to flush.
  engine.close();
  // Queued calls first get the dispatcher's answer (it says how long they waited), then
  // every call still without an answer gets its 503 here.
  await new Promise((resolve) => setImmediate(resolve));
  app.app.endCalls();
  await Promise.race([drained, delay(HELD_ANSWER_FLUSH_MS)]);
  for (const s of servers) s.closeAllConnections();
  listeners.h2.closeAll();
  listeners.own?.h2.closeAll();
  engine.close();
  parts.detachSink?.();
  closing.unsubscribe();
  await parts.provider.close();
  closing.logger.info('stopped');
}
