import { afterAll, beforeAll, expect, it } from '@jest/globals';
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

it("a call over the NATS server's max_payload (1 MB by default) is 413 BODY_TOO_LARGE, not a 503 to retry", async () => {
  const queue = await openNatsQueue({ servers: server.url, clock: systemClock, logger: silentLogger(), maxQueued: 10, name: 'TPAYLOAD', ackWaitMs: 2000, backlogRefreshMs: 200 });
  try {
    const body = Buffer.alloc(800 * 1024, 'p').toString('base64');
    const call = { id: 'big-1', fn: 'fn', method: 'POST', path: '', query: '', headers: [], body, acceptedAt: 0 };
    await expect(queue.enqueue(call)).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
  } finally {
    await queue.close();
  }
});

