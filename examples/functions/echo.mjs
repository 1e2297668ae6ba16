// The example function: answers every request with its body. One process is one replica.
// PORT comes from alert-scaler. Optional env: START_DELAY_MS (delay before listening, to
// simulate a slow start), RESPONSE_DELAY_MS (delay before answering, to simulate work).
// Once listening it says `ready` on the readiness pipe alert-scaler gives it (the fd in
// ALERT_SCALER_READY_FD), so a held call goes at once; GET /_/health stays the contract.
import { closeSync, writeSync } from 'node:fs';
import http from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const startDelayMs = Number(process.env.START_DELAY_MS ?? 0);
const responseDelayMs = Number(process.env.RESPONSE_DELAY_MS ?? 0);

const server = http.createServer((req, res) => {
  if (req.url === '/_/health') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('OK');
    return;
  }
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    setTimeout(() => {
      res.writeHead(200, {
        'content-type': req.headers['content-type'] ?? 'text/plain',
        'x-echo-pid': String(process.pid),
        'x-echo-method': req.method ?? '',
        'x-echo-path': req.url ?? '',
      });
      res.end(body);
    }, responseDelayMs);
  });
});

/** Tells alert-scaler this replica serves, when it gave a readiness pipe. */
function signalReady() {
  const fd = Number(process.env.ALERT_SCALER_READY_FD);
  if (!Number.isInteger(fd) || fd < 3) return;
  try {
    writeSync(fd, 'ready\n');
    closeSync(fd);
  } catch {
    // not a pipe after all: the health probe finds this replica
  }
}

setTimeout(() => server.listen(port, '127.0.0.1', signalReady), startDelayMs);

// Drain: stop accepting, let in-flight requests finish, then exit.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
