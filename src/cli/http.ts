import { AppError } from '../errors.js';

/** Longest wait for one answer of the gateway (not for a followed stream), ms. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** An answer of the gateway: status, content type and body. */
export interface GatewayAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

function failed(message: string, details: Record<string, unknown>, cause?: unknown): AppError {
  return new AppError('GATEWAY_FAILED', message, { details, ...(cause === undefined ? {} : { cause }) });
}

/**
 * Why a request got no answer: the system error code of fetch's cause (ECONNREFUSED,
 * ENOTFOUND, ...), else a message. Duck-typed: the error may come from another realm.
 */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: unknown } | null)?.cause;
  for (const candidate of [cause, err]) {
    const code = (candidate as { code?: unknown } | null)?.code;
    if (typeof code === 'string') return code;
    if ((candidate as { name?: unknown } | null)?.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS} ms`;
  }
  const message = (cause as { message?: unknown } | null)?.message ?? (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}

/** The code and message of an alert-scaler error body, when it is one. */
function errorOf(body: Buffer): { code?: string; message?: string } {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } };
    const code = typeof parsed.error?.code === 'string' ? parsed.error.code : undefined;
    const message = typeof parsed.error?.message === 'string' ? parsed.error.message : undefined;
    return { ...(code === undefined ? {} : { code }), ...(message === undefined ? {} : { message }) };
  } catch {
    return {};
  }
}

/**
 * The one HTTP helper of the CLI: requests to the gateway with basic auth from
 * ALERT_SCALER_BASIC_AUTH_USER / ALERT_SCALER_BASIC_AUTH_PASSWORD when both are set.
 * Failures are AppError GATEWAY_FAILED whose message says which: unreachable, an HTTP
 * status (with the gateway's error code and message), or an answer that is not JSON.
 */
export class GatewayClient {
  private readonly authorization: string | undefined;

  constructor(
    readonly gateway: string,
    env: Readonly<Record<string, string | undefined>>,
  ) {
    const user = env['ALERT_SCALER_BASIC_AUTH_USER'];
    const password = env['ALERT_SCALER_BASIC_AUTH_PASSWORD'];
    this.authorization = user !== undefined && password !== undefined ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : undefined;
  }

  /** The absolute URL of `path` on the gateway. */
  url(path: string): string {
    return new URL(path, this.gateway).toString();
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...extra, ...(this.authorization === undefined ? {} : { Authorization: this.authorization }) };
  }

  /** Sends one request; resolves with any HTTP answer, rejects GATEWAY_FAILED when there is none. */
  async send(method: string, path: string, options: { body?: Buffer | string; contentType?: string; signal?: AbortSignal } = {}): Promise<GatewayAnswer> {
    const signal = options.signal === undefined ? AbortSignal.timeout(REQUEST_TIMEOUT_MS) : AbortSignal.any([options.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]);
    let res: Response;
    try {
      res = await fetch(this.url(path), {
        method,
        headers: this.headers(options.contentType === undefined ? {} : { 'Content-Type': options.contentType }),
        ...(options.body === undefined ? {} : { body: options.body }),
        signal,
        redirect: 'manual',
      });
    } catch (err) {
      throw failed(`cannot reach the gateway at ${this.gateway}: ${networkReason(err)}`, { gateway: this.gateway }, err);
    }
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()) };
  }

  /** A 2xx JSON answer's body; any other answer is GATEWAY_FAILED naming the status and the gateway's error. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.send(method, path, body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' });
    if (answer.status < 200 || answer.status > 299) throw this.statusError(method, path, answer);
    try {
      return JSON.parse(answer.body.toString('utf8')) as T;
    } catch (err) {
      throw failed(`the gateway at ${this.gateway} answered ${method} ${path} with something that is not JSON`, { status: answer.status }, err);
    }
  }

  /** GATEWAY_FAILED for a non-2xx answer: `HTTP 404 FUNCTION_UNKNOWN: function nope not found`. */
  statusError(method: string, path: string, answer: GatewayAnswer): AppError {
    const { code, message } = errorOf(answer.body);
    const what = [code, message].filter((x) => x !== undefined).join(': ');
    return failed(`the gateway at ${this.gateway} answered ${method} ${path} with HTTP ${answer.status}${what === '' ? '' : ` ${what}`}`, {
      status: answer.status,
      ...(code === undefined ? {} : { code }),
    });
  }

  /**
   * Follows a server-sent events stream: once it is open, `onOpen` runs (events arriving
   * meanwhile wait in the stream), then `onEvent(name, data)` per event, until `signal`
   * aborts (resolves) or the gateway ends it (rejects GATEWAY_FAILED).
   */
  async follow(path: string, onEvent: (name: string, data: string) => void, signal: AbortSignal, onOpen: () => Promise<void> = async () => undefined): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.url(path), { headers: this.headers({ Accept: 'text/event-stream' }), signal });
    } catch (err) {
      if (signal.aborted) return;
      throw failed(`cannot reach the gateway at ${this.gateway}: ${networkReason(err)}`, { gateway: this.gateway }, err);
    }
    if (res.status !== 200 || res.body === null) {
      throw this.statusError('GET', path, { status: res.status, contentType: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()) });
    }
    await onOpen();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = 'message';
          const data: string[] = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith('event:')) name = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (data.length > 0) onEvent(name, data.join('\n'));
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw failed(`the event stream of ${this.gateway} broke: ${err instanceof Error ? err.message : String(err)}`, { gateway: this.gateway }, err);
    }
    if (!signal.aborted) throw failed(`the gateway at ${this.gateway} ended the event stream (shutting down?)`, { gateway: this.gateway });
  }
}
