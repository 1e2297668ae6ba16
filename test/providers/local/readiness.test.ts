import { describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { FAST_PROBE_WINDOW_MS, portAccepts, probeDelayMs } from '../../../src/providers/local/process.js';
import { PIPE_GRACE_MS, READY_LINE_MAX_BYTES, probeHoldOffMs, readyLine, watchReadyPipe } from '../../../src/providers/local/ready-pipe.js';
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

describe('readyLine: the first line of a readiness pipe', () => {
  const rows: Array<[string, string, 'ready' | 'other' | 'partial']> = [
    ['ready and a newline', 'ready\n', 'ready'],
    ['blanks and CRLF around it are ignored', '  ready \r\nmore', 'ready'],
    ['only the first line counts', 'starting\nready\n', 'other'],
    ['another word', 'not ready\n', 'other'],
    ['an empty first line', '\nready\n', 'other'],
    ['no newline yet', 'rea', 'partial'],
    ['no newline within the bound', 'x'.repeat(READY_LINE_MAX_BYTES + 1), 'other'],
    ['a first line longer than the bound', `${' '.repeat(READY_LINE_MAX_BYTES)}ready\n`, 'other'],
  ];
  it.each(rows)('%s', (_name, buffered, expected) => {
    expect(readyLine(buffered)).toBe(expected);
  });
});

describe('watchReadyPipe: one verdict per pipe, from bounded reads', () => {
  const verdictsOf = async (writes: readonly string[], end: boolean): Promise<string[]> => {
    const pipe = new PassThrough();
    const verdicts: string[] = [];
    watchReadyPipe(pipe, (v) => verdicts.push(v));
    for (const w of writes) pipe.write(w);
    if (end) pipe.end();
    await new Promise((r) => setImmediate(r));
    return verdicts;
  };
  const rows: Array<[string, string[], boolean, string[]]> = [
    ['ready in one write', ['ready\n'], false, ['ready']],
    ['ready split over writes', ['re', 'ad', 'y\n'], false, ['ready']],
    ['ready, then the pipe closed without a newline', ['ready'], true, ['ready']],
    ['more lines after ready: still one verdict', ['ready\nready\nok\n'], true, ['ready']],
    ['closed without a word', [], true, ['other']],
    ['another line', ['booting\n', 'ready\n'], true, ['other']],
    ['a flood without a newline: other once, the rest dropped', ['x'.repeat(10_000), 'ready\n'], true, ['other']],
    ['nothing yet', [], false, []],
  ];
  it.each(rows)('%s', async (_name, writes, end, expected) => {
    expect(await verdictsOf(writes, end)).toEqual(expected);
  });
});

describe('probeHoldOffMs: no probes while a replica expected to use its pipe starts', () => {
  const rows: Array<[string, number, boolean, number]> = [
    ['pipe expected, just spawned: the whole grace', 0, true, PIPE_GRACE_MS],
    ['pipe expected, part way: the rest of it', 300, true, PIPE_GRACE_MS - 300],
    ['pipe expected, grace over: probe now', PIPE_GRACE_MS, true, 0],
    ['pipe not expected: probe now', 0, false, 0],
    ['a clock read before the spawn counts as the spawn', -5, true, PIPE_GRACE_MS],
  ];
  it.each(rows)('%s', (_name, since, expectPipe, expected) => {
    expect(probeHoldOffMs(since, expectPipe)).toBe(expected);
  });
});
