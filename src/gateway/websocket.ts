import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Drainer } from '../engine/drain.js';
import type { Slot } from '../engine/slot.js';
import { AppError } from '../errors.js';
import { refKey, type FunctionRef } from '../providers/types.js';
import { asAppError, logRequestFailure, writeError } from './error-response.js';
import { SANDBOX_HEADERS, isForwarded, type ProxyDeps } from './proxy.js';
import type { KnownFunction } from './proxy-call.js';
import { KnownFunctions } from './proxy-functions.js';
import { OPERATOR_CREDENTIALS, requestHeaders, trustedProxyCheck } from './proxy-headers.js';
import { parseFunctionTarget } from './proxy-path.js';
import { Handshake, type HandshakeContext } from './websocket-handshake.js';
import { hasBody, rawResponse, type UpgradeHandler } from './websocket-raw.js';
import { WebSocketTunnel, type CloseReason } from './websocket-tunnel.js';

/** What the WebSocket proxy needs: the call proxy's parts, and the drainer whose timeouts close sockets. */
export interface WebSocketDeps extends Omit<ProxyDeps, 'bodyIdleTimeoutMs'> {
  /** Drain timeouts close the sockets of the replicas removed anyway (code 1001); none when absent. */
  readonly drainer?: Pick<Drainer, 'onDrainTimeout'> | undefined;
}

/** The WebSocket side of the function route, for both listeners, and its shutdown. */
export interface WebSocketProxy {
  /** `'upgrade'` of the function listener for `/function/<name>[/<path>]` WebSocket requests. */
  readonly upgrade: UpgradeHandler;
  /** The same on the admin listener: every answer, the 101 included, with SANDBOX_HEADERS. */
  readonly sandboxed: UpgradeHandler;
  /**
   * Shutdown: every open socket is closed with code 1001, every handshake still without an
   * answer gets 503 SHUTTING_DOWN, and later upgrades get it at once. Returns how many it ended.
   */
  closeAll(): number;
  /** Sockets open now (upgraded, not yet closed). */
  readonly openCount: number;
}

/**
 * Forwards WebSocket upgrades on `/function/<name>[/<path>]` to a replica (see Handshake and
 * WebSocketTunnel): the same target, function and body rules as a call (bad path 400,
 * unknown function 404, a body 400 or 413), a slot from the dispatcher as a call takes one,
 * held until the socket closes. Counts `gateway_websocket_*`; a replica whose drain timed out
 * has its sockets closed with code 1001 before it goes; an idle timeout per function
 * (`com.openfaas.websocket.idle-timeout`) closes a silent socket the same way.
 */
export function createWebSocketProxy(deps: WebSocketDeps): WebSocketProxy {
  const proxy = new WebSocketRouter(deps);
  return {
    upgrade: (req, socket, head) => proxy.handle(req, socket, head, proxy.plain),
    sandboxed: (req, socket, head) => proxy.handle(req, socket, head, proxy.sandbox),
    closeAll: () => proxy.closeAll(),
    get openCount() {
      return proxy.tunnels.size;
    },
  };
}

/** The routing, the live sockets and their handshakes, the metrics. */
class WebSocketRouter {
  readonly tunnels = new Set<WebSocketTunnel>();
  private readonly handshakes = new Set<Handshake>();
  private readonly functions: KnownFunctions;
  private readonly isTrusted: ReturnType<typeof trustedProxyCheck>;
  private shuttingDown = false;
  readonly plain: HandshakeContext;
  readonly sandbox: HandshakeContext;

  constructor(private readonly deps: WebSocketDeps) {
    this.functions = new KnownFunctions(deps.dispatcher, deps.metrics, deps.defaultNamespace);
    this.isTrusted = trustedProxyCheck(deps.trustedProxies);
    this.plain = {
      dispatcher: deps.dispatcher,
      logger: deps.logger,
      responseHeaders: [],
      outcome: (fn, code) => deps.metrics.websocketUpgrades.inc({ function_name: fn.metrics.label, code: String(code) }),
      upgraded: (handshake, upstream, head, slot) => this.upgraded(handshake, upstream, head, slot),
      ended: (handshake) => this.handshakes.delete(handshake),
    };
    this.sandbox = { ...this.plain, responseHeaders: SANDBOX_HEADERS, sandboxed: true };
    deps.drainer?.onDrainTimeout((ref, ids) => this.drainTimedOut(ref, ids));
  }

  /** One upgrade request: nothing thrown escapes (every failure is an answer on the socket). */
  handle(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: HandshakeContext): void {
    try {
      if (this.shuttingDown) throw new AppError('SHUTTING_DOWN', 'the gateway is shutting down');
      const target = parseFunctionTarget(req.url ?? '/');
      const headers = requestHeaders(req.rawHeaders, req.socket.remoteAddress, (req.socket as Partial<TLSSocket>).encrypted === true, this.isTrusted, ctx.sandboxed === true ? OPERATOR_CREDENTIALS : undefined);
      if (headers.contentLength > this.deps.bodyLimitBytes) throw new AppError('BODY_TOO_LARGE', `request body of ${headers.contentLength} bytes is over the ${this.deps.bodyLimitBytes} byte limit`);
      // The bytes after an upgrade's head are the socket's, never a body: one declared is refused.
      if (hasBody(req)) throw new AppError('BAD_REQUEST', 'a WebSocket upgrade request carries no body');
      const local = isForwarded(req);
      const start = (fn: KnownFunction): void => {
        const handshake = new Handshake(req, socket, head, fn, ctx);
        this.handshakes.add(handshake);
        handshake.begin(target, headers, local);
      };
      const fn = this.functions.get(target.name);
      if (fn !== undefined) start(fn);
      else this.functions.lookup(target.name).then(start, (err: unknown) => this.refuse(req, socket, err, ctx));
    } catch (err) {
      this.refuse(req, socket, err, ctx);
    }
  }

  /** An error before the function is known (bad target, unknown function, a body): answered, logged once, not counted. */
  private refuse(req: http.IncomingMessage, socket: Duplex, err: unknown, ctx: HandshakeContext): void {
    const error = asAppError(err);
    logRequestFailure(this.deps.logger, error, { method: req.method, path: (req.url ?? '').split('?')[0], websocket: true });
    const res = rawResponse(req, socket);
    for (let i = 0; i + 1 < ctx.responseHeaders.length; i += 2) res.setHeader(ctx.responseHeaders[i] ?? '', ctx.responseHeaders[i + 1] ?? '');
    writeError(res, error);
  }

  private upgraded(handshake: Handshake, upstream: Socket, upstreamHead: Buffer, slot: Slot): void {
    this.handshakes.delete(handshake);
    const { fn } = handshake;
    const { metrics, dispatcher, invocations } = this.deps;
    const endInvocation = invocations.begin(fn.ref);
    const open = metrics.websocketConnections.labels(fn.metrics.label);
    open.inc();
    const tunnel = new WebSocketTunnel(handshake.socket as Socket, upstream, {
      ref: fn.ref,
      slot,
      idleTimeoutMs: dispatcher.limits(fn.ref)?.websocketIdleTimeoutMs ?? 0,
      onEnd: (ended, reason) => {
        this.tunnels.delete(ended);
        open.dec();
        endInvocation();
        metrics.websocketClosed.inc({ function_name: fn.metrics.label, reason });
        if (this.deps.logger.isLevelEnabled('debug')) this.deps.logger.debug('websocket closed', { function: fn.metrics.label, replica: slot.replicaId, reason });
      },
    });
    this.tunnels.add(tunnel);
    tunnel.start(handshake.head, upstreamHead);
    if (this.shuttingDown) this.close(tunnel, 'shutdown');
  }

  private drainTimedOut(ref: FunctionRef, ids: readonly string[]): void {
    const key = refKey(ref);
    for (const tunnel of [...this.tunnels]) {
      if (refKey(tunnel.options.ref) === key && ids.includes(tunnel.replicaId)) this.close(tunnel, 'drain');
    }
  }

  /** The gateway's own close of one socket; a failure is logged and the socket cut (it runs inside a drain or the shutdown). */
  private close(tunnel: WebSocketTunnel, reason: CloseReason): void {
    try {
      tunnel.close(reason, reason === 'drain' ? 'replica going away' : 'gateway shutting down');
    } catch (err) {
      this.deps.logger.error('websocket close failed', { reason, replica: tunnel.replicaId, error: err instanceof Error ? err.message : String(err) });
      tunnel.cut();
    }
  }

  closeAll(): number {
    this.shuttingDown = true;
    const tunnels = [...this.tunnels];
    for (const tunnel of tunnels) this.close(tunnel, 'shutdown');
    const handshakes = [...this.handshakes];
    const error = new AppError('SHUTTING_DOWN', 'the gateway is shutting down');
    for (const handshake of handshakes) handshake.fail(error);
    return tunnels.length + handshakes.length;
  }
}
