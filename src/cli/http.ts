import { AppError } from '../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from './args.js';
import { gatewayUrl } from './gateway-url.js';

/** How long the client waits, ms (the CLI's --timeout, --connect-timeout, --idle-timeout). */
export interface ClientTimeouts {
  /** One whole answer: connect, head and body. */
  readonly timeoutMs: number;
  /** A followed stream: connect, head and first byte. */
  readonly connectTimeoutMs: number;
  /** A followed stream once open: longest silence (no event, no heartbeat). */
  readonly idleTimeoutMs: number;
}

const DEFAULT_TIMEOUTS: ClientTimeouts = { timeoutMs: DEFAULT_TIMEOUT_MS, connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS };

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
function networkReason(err: unknown, timeoutMs: number): string {
  const cause = (err as { cause?: unknown } | null)?.cause;
  for (const candidate of [cause, err]) {
    const code = (candidate as { code?: unknown } | null)?.code;
    if (typeof code === 'string') return code;
    if ((candidate as { name?: unknown } | null)?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms (--timeout)`;
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
 * The one HTTP helper of the CLI: requests to the gateway with basic auth from the URL's
 * own credentials (`http://user:password@host`), else from ALERT_SCALER_BASIC_AUTH_USER /
 * ALERT_SCALER_BASIC_AUTH_PASSWORD when both are set. Every request is bounded (timeouts).
 * Failures are AppError GATEWAY_FAILED whose message says which: unreachable, no answer in
 * time, an HTTP status (with the gateway's error code and message), or an answer that is
 * not JSON. Messages name the gateway with its password as `***`.
 */
export class GatewayClient {
  private readonly authorization: string | undefined;
  /** The URL requests go to (credentials taken out). */
  private readonly base: string;
  /** The gateway as messages show it: the password as `***`. */
  readonly gateway: string;

  constructor(
    gateway: string,
    env: Readonly<Record<string, string | undefined>>,
    private readonly timeouts: ClientTimeouts = DEFAULT_TIMEOUTS,
  ) {
    const parsed = gatewayUrl(gateway);
    this.base = parsed.base;
    this.gateway = parsed.display;
    const user = parsed.credentials?.user ?? env['ALERT_SCALER_BASIC_AUTH_USER'];
    const password = parsed.credentials?.password ?? env['ALERT_SCALER_BASIC_AUTH_PASSWORD'];
    this.authorization = user !== undefined && password !== undefined ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : undefined;
  }

  /** The absolute URL of `path` on the gateway, as it may be shown (no password). */
  url(path: string): string {
    return new URL(path, this.gateway).toString();
  }

  private target(path: string): string {
    return new URL(path, this.base).toString();
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...extra, ...(this.authorization === undefined ? {} : { Authorization: this.authorization }) };
  }

  /** Sends one request; resolves with any HTTP answer, rejects GATEWAY_FAILED when there is none. */
  async send(method: string, path: string, options: { body?: Buffer | string; contentType?: string; signal?: AbortSignal } = {}): Promise<GatewayAnswer> {
    const { timeoutMs } = this.timeouts;
    const signal = options.signal === undefined ? AbortSignal.timeout(timeoutMs) : AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)]);
    let res: Response;
    try {
      res = await fetch(this.target(path), {
        method,
        headers: this.headers(options.contentType === undefined ? {} : { 'Content-Type': options.contentType }),
        ...(options.body === undefined ? {} : { body: options.body }),
        signal,
        redirect: 'manual',
      });
    } catch (err) {
      throw failed(`cannot reach the gateway at ${this.gateway}: ${networkReason(err, timeoutMs)}`, { gateway: this.gateway }, err);
    }
    // The same signal bounds the body: a gateway that stops sending mid-answer is an error too.
    let body: Buffer;
    try {
      body = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      throw failed(`the answer of the gateway at ${this.gateway} to ${method} ${path} broke off: ${networkReason(err, timeoutMs)}`, { gateway: this.gateway, status: res.status }, err);
    }
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body };
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
   * aborts (resolves) or the gateway ends it (rejects GATEWAY_FAILED). Bounded: the head and
   * the first byte must come within `connectTimeoutMs` (the gateway writes a `retry:` line
   * at once), then no silence longer than `idleTimeoutMs` (the gateway sends a heartbeat
   * comment on an idle stream); either is GATEWAY_FAILED naming the gateway.
   */
  async follow(path: string, onEvent: (name: string, data: string) => void, signal: AbortSignal, onOpen: () => Promise<void> = async () => undefined): Promise<void> {
    const { connectTimeoutMs, idleTimeoutMs } = this.timeouts;
    const stop = new AbortController();
    let gaveUp: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    const bound = (ms: number, why: string): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        gaveUp = why;
        stop.abort();
      }, ms);
    };
    const both = AbortSignal.any([signal, stop.signal]);
    const giveUp = (err: unknown): AppError => failed(`the gateway at ${this.gateway} ${gaveUp ?? 'broke the event stream'}${gaveUp === undefined ? `: ${err instanceof Error ? err.message : String(err)}` : ''}`, { gateway: this.gateway }, err);
    try {
      bound(connectTimeoutMs, `did not answer GET ${path} within ${connectTimeoutMs} ms (--connect-timeout)`);
      let res: Response;
      try {
        res = await fetch(this.target(path), { headers: this.headers({ Accept: 'text/event-stream' }), signal: both });
      } catch (err) {
        if (signal.aborted) return;
        if (gaveUp !== undefined) throw giveUp(err);
        throw failed(`cannot reach the gateway at ${this.gateway}: ${networkReason(err, connectTimeoutMs)}`, { gateway: this.gateway }, err);
      }
      let reader: { read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }> };
      let first: Awaited<ReturnType<typeof reader.read>>;
      try {
        if (res.status !== 200 || res.body === null) {
          throw this.statusError('GET', path, { status: res.status, contentType: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()) });
        }
        bound(connectTimeoutMs, `sent the head of the event stream but no byte within ${connectTimeoutMs} ms (--connect-timeout)`);
        reader = res.body.getReader() as typeof reader;
        first = await reader.read();
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof AppError) throw err;
        throw giveUp(err);
      }
      clearTimeout(timer);
      await onOpen();
      const decoder = new TextDecoder();
      let buffer = '';
      let chunk = first;
      try {
        for (;;) {
          if (chunk.done) break;
          buffer += decoder.decode(chunk.value, { stream: true });
          buffer = this.frames(buffer, onEvent);
          bound(idleTimeoutMs, `sent nothing on the event stream for ${idleTimeoutMs} ms, not even a heartbeat (--idle-timeout)`);
          chunk = await reader.read();
        }
      } catch (err) {
        if (signal.aborted) return;
        throw giveUp(err);
      }
      if (!signal.aborted) throw failed(`the gateway at ${this.gateway} ended the event stream (shutting down?)`, { gateway: this.gateway });
    } finally {
      clearTimeout(timer);
      stop.abort();
    }
  }

  /** Hands every complete frame of `buffer` to `onEvent`; returns what is left (an incomplete frame). */
  private frames(text: string, onEvent: (name: string, data: string) => void): string {
    let buffer = text;
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
    return buffer;
  }
}
