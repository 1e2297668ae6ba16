import http from 'node:http';

/** One server-sent event as received. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/** A test client of a server-sent events stream: the frames so far, the status, and its end. */
export interface SseClient {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly events: SseEvent[];
  /** Comment lines (`: heartbeat`), without the colon. */
  readonly comments: string[];
  readonly ended: Promise<void>;
  readonly response: http.IncomingMessage;
  close(): void;
}

/** Opens `url` as an event stream (basic auth when given); resolves once the headers arrived. */
export function openSse(url: string, auth?: { user: string; password: string }): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (auth !== undefined) headers['Authorization'] = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
    const req = http.get(url, { headers, agent: false }, (res) => {
      const events: SseEvent[] = [];
      const comments: string[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) events.push({ event, data: data.join('\n') });
        }
      });
      const ended = new Promise<void>((done) => {
        res.on('end', done);
        res.on('close', done);
        res.on('error', () => done());
      });
      resolve({ status: res.statusCode ?? 0, headers: res.headers, events, comments, ended, response: res, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}
