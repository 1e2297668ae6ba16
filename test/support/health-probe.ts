import http from 'node:http';

/**
 * Times GET /healthz on fresh connections, one after another (5 ms apart), until `stop()`,
 * which resolves every probe's time in ms: while the event loop is blocked, the probe in
 * flight waits with it.
 */
export function probeHealth(port: number): { stop: () => Promise<number[]> } {
  let on = true;
  const times: number[] = [];
  const loop = (async () => {
    while (on) {
      const started = performance.now();
      await new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 20_000 }, (res) => {
          res.resume();
          res.on('end', resolve);
        }).on('error', reject);
      });
      times.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      return times;
    },
  };
}
