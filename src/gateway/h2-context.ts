import type http from 'node:http';
import type http2 from 'node:http2';
import type { InvocationLog } from '../engine/activity.js';
import type { Slot } from '../engine/dispatcher.js';
import type { Logger } from '../log/logger.js';
import type { UpstreamSessions } from './h2-upstream.js';
import type { KnownFunction } from './proxy-call.js';

/** A call as shutdown and a resend see it (H2Call). */
export interface H2CallHandle {
  /** What the call is. */
  readonly request: H2Request;
  /** True once the client's stream has closed. */
  readonly closed: boolean;
  /** Set while the call waits in the queue: called when the client goes away first. */
  onGone: (() => void) | null;
  /** Answers the call with an error and ends its exchange. */
  fail(err: unknown): void;
  /** Sends the call again, to `slot`. */
  resend(slot: Slot): void;
}

/** What every HTTP/2 call shares. */
export interface H2Context {
  /** The HTTP/1.1 upstream agent (replicas that do not speak h2c). */
  readonly agent: http.Agent;
  /** One h2c session per replica (label `com.openfaas.protocol=h2c`). */
  readonly sessions: UpstreamSessions;
  readonly logger: Logger;
  readonly bodyLimitBytes: number;
  readonly invocations: InvocationLog;
  /** Calls from construction to the close of their stream: what shutdown ends at its deadline. */
  readonly active: Set<H2CallHandle>;
  /** A send that never reached its replica (no connection): the slot is given back and the call sent again (`H2Call.resend`). */
  readonly refused: (call: H2CallHandle, failed: Slot, err: Error) => void;
}

/** What one call is: its stream, method, function, whether it is gRPC and its own deadline (ms from now). */
export interface H2Request {
  readonly stream: http2.ServerHttp2Stream;
  readonly method: string;
  readonly fn: KnownFunction;
  readonly grpc: boolean;
  /** The client's `grpc-timeout`, ms; undefined when it set none. */
  readonly deadlineMs: number | undefined;
  /** Sent here by another gateway: served or queued here, never sent on again. */
  readonly local: boolean;
}
