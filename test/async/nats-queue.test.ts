import { afterAll, beforeAll } from '@jest/globals';
import { openNatsQueue } from '../../src/async/nats-queue.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/log/logger.js';
import { asyncQueueContract } from './contract.js';
import { startNats, type NatsServer } from './nats-server.js';

let server: NatsServer;
beforeAll(async () => {
  server = await startNats();
}, 20_000);
afterAll(async () => {
  await server.stop();
});

let n = 0;
asyncQueueContract('NATS JetStream', () => {
  // Each test its own stream; reopening (a restart) uses the same one.
  const name = `T${++n}`;
  return { open: () => openNatsQueue({ servers: server.url, clock: systemClock, logger: silentLogger(), maxQueued: 1000, name, ackWaitMs: 2000, backlogRefreshMs: 200 }) };
});
