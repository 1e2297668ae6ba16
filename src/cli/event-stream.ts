import { AppError } from '../errors.js';
import { failed, networkReason } from './gateway-failure.js';

type Chunk = { done: true; value?: undefined } | { done: false; value: Uint8Array };
interface ChunkReader {
  read(): Promise<Chunk>;
}

/** One event stream to follow: where, with which headers, how long to wait, and how to word a non-200 answer. */
export interface EventStreamRequest {
  /** The gateway as messages show it (no password). */
  readonly gateway: string;
  /** The path as messages show it. */
  readonly path: string;
  /** The URL the request goes to. */
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** The GATEWAY_FAILED error for an answer that is not 200 with a body. */
  statusError(res: Response): Promise<AppError>;
}

/**
 * Follows a server-sent events stream (see GatewayClient.follow): opens it within
 * `connectTimeoutMs` (head and first byte), runs `onOpen`, then hands each event to
 * `onEvent` with no silence longer than `idleTimeoutMs`, until `signal` aborts (resolves)
 * or the stream fails or ends (rejects GATEWAY_FAILED).
 */
export async function followEventStream(
  request: EventStreamRequest,
  onEvent: (name: string, data: string) => void,
  signal: AbortSignal,
  onOpen: () => Promise<void>,
): Promise<void> {
  const follower = new StreamFollower(request, signal);
  try {
    const opened = await follower.open();
    if (opened === undefined) return;
    follower.quiet();
    await onOpen();
    await follower.pump(opened.reader, opened.first, onEvent);
  } finally {
    follower.dispose();
  }
}

/** Hands every complete frame of `text` to `onEvent`; returns what is left (an incomplete frame). */
export function takeFrames(text: string, onEvent: (name: string, data: string) => void): string {
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

/** One followed stream: its watchdog timer (what it gave up on, if it did) and its reads. */
class StreamFollower {
  private readonly stop = new AbortController();
  private readonly both: AbortSignal;
  private gaveUp: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly request: EventStreamRequest,
    private readonly signal: AbortSignal,
  ) {
    this.both = AbortSignal.any([signal, this.stop.signal]);
  }

  /** Opens the stream and reads its first chunk; undefined when `signal` aborted meanwhile. */
  async open(): Promise<{ reader: ChunkReader; first: Chunk } | undefined> {
    const { gateway, path, connectTimeoutMs } = this.request;
    this.bound(connectTimeoutMs, `did not answer GET ${path} within ${connectTimeoutMs} ms (--connect-timeout)`);
    let res: Response;
    try {
      res = await fetch(this.request.url, { headers: this.request.headers, signal: this.both });
    } catch (err) {
      if (this.signal.aborted) return undefined;
      if (this.gaveUp !== undefined) throw this.giveUp(err);
      throw failed(`cannot reach the gateway at ${gateway}: ${networkReason(err, connectTimeoutMs)}`, { gateway }, err);
    }
    try {
      return await this.firstChunk(res);
    } catch (err) {
      if (this.signal.aborted) return undefined;
      if (err instanceof AppError) throw err;
      throw this.giveUp(err);
    }
  }

  private async firstChunk(res: Response): Promise<{ reader: ChunkReader; first: Chunk }> {
    if (res.status !== 200 || res.body === null) throw await this.request.statusError(res);
    const { connectTimeoutMs } = this.request;
    this.bound(connectTimeoutMs, `sent the head of the event stream but no byte within ${connectTimeoutMs} ms (--connect-timeout)`);
    const reader = res.body.getReader() as ChunkReader;
    return { reader, first: await reader.read() };
  }

  /** Reads the open stream to its end, handing each event to `onEvent`, each chunk re-arming the idle bound. */
  async pump(reader: ChunkReader, first: Chunk, onEvent: (name: string, data: string) => void): Promise<void> {
    const { gateway, idleTimeoutMs } = this.request;
    const decoder = new TextDecoder();
    let buffer = '';
    let chunk = first;
    try {
      while (!chunk.done) {
        buffer += decoder.decode(chunk.value, { stream: true });
        buffer = takeFrames(buffer, onEvent);
        this.bound(idleTimeoutMs, `sent nothing on the event stream for ${idleTimeoutMs} ms, not even a heartbeat (--idle-timeout)`);
        chunk = await reader.read();
      }
    } catch (err) {
      if (this.signal.aborted) return;
      throw this.giveUp(err);
    }
    if (!this.signal.aborted) throw failed(`the gateway at ${gateway} ended the event stream (shutting down?)`, { gateway });
  }

  /** Stops the watchdog (while `onOpen` runs). */
  quiet(): void {
    clearTimeout(this.timer);
  }

  /** Stops the watchdog and aborts the request. */
  dispose(): void {
    clearTimeout(this.timer);
    this.stop.abort();
  }

  private bound(ms: number, why: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.gaveUp = why;
      this.stop.abort();
    }, ms);
  }

  private giveUp(err: unknown): AppError {
    const { gateway } = this.request;
    const detail = this.gaveUp === undefined ? `: ${err instanceof Error ? err.message : String(err)}` : '';
    return failed(`the gateway at ${gateway} ${this.gaveUp ?? 'broke the event stream'}${detail}`, { gateway }, err);
  }
}
