import { AppError } from '../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from './args.js';
import { followEventStream } from './event-stream.js';
import { errorOf, failed, networkReason } from './gateway-failure.js';
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
    const statusError = async (res: Response): Promise<AppError> =>
      this.statusError('GET', path, { status: res.status, contentType: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()) });
    const request = { gateway: this.gateway, path, url: this.target(path), headers: this.headers({ Accept: 'text/event-stream' }), connectTimeoutMs, idleTimeoutMs, statusError };
    return followEventStream(request, onEvent, signal, onOpen);
  }
}
