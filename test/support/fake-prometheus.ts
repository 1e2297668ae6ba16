import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the fake answers to one query: a vector (metric labels, value), a matrix, a 500, or nothing. */
export type PrometheusAnswer = ReadonlyArray<{ readonly metric: Record<string, string>; readonly value: string }> | 'matrix' | 'error' | 'hang';

/**
 * A fake Prometheus on 127.0.0.1: `GET /api/v1/query` records the query and answers what
 * `respond(query)` says; any other path is a 404.
 */
export class FakePrometheus {
  readonly queries: string[] = [];
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  url = '';

  constructor(private readonly respond: (query: string) => PrometheusAnswer) {}

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/api/v1/query') {
      res.writeHead(404).end();
      return;
    }
    const query = url.searchParams.get('query') ?? '';
    this.queries.push(query);
    const answer = this.respond(query);
    if (answer === 'hang') return;
    if (answer === 'error') {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"status":"error","error":"boom"}');
      return;
    }
    const data =
      answer === 'matrix'
        ? { resultType: 'matrix', result: [] }
        : { resultType: 'vector', result: answer.map((r) => ({ metric: r.metric, value: [Date.now() / 1000, r.value] })) };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'success', data }));
  }
}
