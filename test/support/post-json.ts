import http from 'node:http';

/**
 * POSTs `text` as JSON to 127.0.0.1:`port` and resolves the status and the parsed answer;
 * rejects when the answer is not JSON or none comes within `timeoutMs`.
 */
export function postJson(port: number, path: string, text: string, agent: http.Agent, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }, timeout: timeoutMs },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as unknown });
          } catch (err) {
            reject(new Error(`answer ${res.statusCode} is not JSON: ${data.slice(0, 200)}`, { cause: err }));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(text);
  });
}
