import { describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { FAST_PROBE_WINDOW_MS, portAccepts, probeDelayMs } from '../../../src/providers/local/process.js';
import { freePort } from '../../../src/providers/local/replica.js';

describe('probeDelayMs: 1 ms probes while a replica starts, then backing off to the health interval', () => {
  const rows: Array<[string, number, number, number]> = [
    ['just spawned: 1 ms', 0, 5, 1],
    ['inside the fast window: 1 ms', FAST_PROBE_WINDOW_MS - 1, 5, 1],
    ['the second window: 2 ms', FAST_PROBE_WINDOW_MS, 5, 2],
    ['the third window: 4 ms', 2 * FAST_PROBE_WINDOW_MS + 50, 5, 4],
    ['later: the health interval', 10 * FAST_PROBE_WINDOW_MS, 5, 5],
    ['a long interval is reached by doubling', 7 * FAST_PROBE_WINDOW_MS, 1000, 128],
    ['never above the configured interval', 60_000, 50, 50],
    ['an interval under 1 ms is kept inside the window', 10, 0.5, 0.5],
  ];
  it.each(rows)('%s', (_name, since, interval, expected) => {
    expect(probeDelayMs(since, interval)).toBe(expected);
  });
});

describe('portAccepts: the TCP check before the HTTP probe', () => {
  it('is false for a port nothing listens on and true once something does', async () => {
    const port = await freePort();
    expect(await portAccepts(port)).toBe(false);
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      expect(await portAccepts(port)).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
