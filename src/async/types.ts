/** One stored asynchronous call: what the client sent to `/async-function/<name>[/<path>]`. */
export interface AsyncCall {
  /** The call id (`X-Call-Id`), unique per accepted call. */
  readonly id: string;
  /** The function as requested: `name` or `name.namespace`. */
  readonly fn: string;
  readonly method: string;
  /** The raw sub-path after the function name: empty or starting with `/`. */
  readonly path: string;
  /** The raw query with its `?`, or empty. */
  readonly query: string;
  /** Flat [name, value, ...] request headers, hop-by-hop ones dropped. */
  readonly headers: readonly string[];
  /** The request body, base64. */
  readonly body: string;
  /** Where the function's answer goes (http/https), or undefined. */
  readonly callbackUrl?: string | undefined;
  /** Clock ms when the gateway accepted the call (answered 202). */
  readonly acceptedAt: number;
}

/** A call handed to the consumer: settle it exactly once with `ack`, `nack` or `deadLetter`. */
export interface Delivery {
  readonly call: AsyncCall;
  /** 1 for the first delivery of the call, counting every earlier `nack` and redelivery. */
  readonly attempt: number;
  /** Done: the call is never delivered again. */
  ack(): Promise<void>;
  /** Deliver again after `delayMs` (the attempt count grows by one). */
  nack(delayMs: number): Promise<void>;
  /** Gives up: the call goes to the dead-letter list with `reason`. */
  deadLetter(reason: string): Promise<void>;
  /**
   * The call no longer holds its function's share (`consume`'s `limitOf`): its replica slot is
   * back, what is left (the callback, the settling) does not load the function. Optional; the
   * share is freed at settling anyway.
   */
  yieldShare?(): void;
}

/** A call that was given up on, kept until replayed. */
export interface DeadLetter {
  readonly call: AsyncCall;
  /** Why (the last status or error). */
  readonly reason: string;
  readonly attempts: number;
  /** Clock ms when it was given up on. */
  readonly at: number;
}

/** Runs one delivery; the queue hands over at most `maxInFlight` at a time. */
export type DeliveryHandler = (delivery: Delivery) => void;

/**
 * The asynchronous-call queue: durable enqueue (resolved once the call is stored), one
 * consumer with explicit acks, a dead-letter list with replay, the backlog per function.
 * Delivery is at least once: a call delivered but not acked before a crash is delivered again.
 * Implementations: the embedded log (src/async/log-queue.ts) and NATS JetStream (src/async/nats-queue.ts).
 */
export interface AsyncQueue {
  /** Stores the call; resolves once it survives a crash. Rejects QUEUE_FULL at the bound. */
  enqueue(call: AsyncCall): Promise<void>;
  /**
   * Starts handing calls to `handler`, at most `maxInFlight` unsettled at once, and at most
   * `limitOf(fn)` of one function (as requested): the embedded queue hands calls out in turn
   * across functions under that limit; JetStream (one consumer, stream order) ignores it.
   */
  consume(handler: DeliveryHandler, maxInFlight: number, limitOf?: (fn: string) => number): void;
  /** Calls of `fn` (as requested) stored and not yet acked or dead-lettered, as this gateway knows them. */
  backlog(fn: string): number;
  /** Every function with a backlog above 0, with its count. */
  backlogs(): ReadonlyMap<string, number>;
  /** The dead letters, oldest first, at most `limit`. */
  deadLetters(limit: number): Promise<DeadLetter[]>;
  /** Puts a dead letter back in the queue (attempts from 1); false when no such id. */
  replay(id: string): Promise<boolean>;
  /** Stops delivering and releases the store; unsettled deliveries are delivered again later. */
  close(): Promise<void>;
}
