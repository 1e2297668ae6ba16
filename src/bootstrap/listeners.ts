import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/index.js';
import type { App } from '../server.js';
import { serveH2c, type H2Listener } from './protocols.js';

/** The two listening servers and where a local client reaches them. */
export interface Listeners {
  /** The function listener's server and port (its `url`). */
  readonly server: http.Server;
  readonly port: number;
  readonly url: string;
  /** The function listener's HTTP/2 (h2c) sessions, closed at shutdown beside its HTTP/1.1 connections. */
  readonly h2: H2Listener;
  /** The admin listener's server, host and port (its `adminUrl`). */
  readonly adminServer: http.Server;
  readonly adminHost: string;
  readonly adminPort: number;
  readonly adminUrl: string;
  /**
   * With `workers` > 1: this worker's own function listener, on a port no other worker shares
   * (the shared port hands a call to any worker): the address other members forward calls to.
   * It serves h2c as the shared one does (a forwarded gRPC call goes over h2c). Null with one worker.
   */
  readonly own: { readonly server: http.Server; readonly port: number; readonly h2: H2Listener } | null;
}

/**
 * Listens with the function handler on `config.port` of `config.host`, then with the admin
 * handler on `config.adminPort` of `config.adminHost` (the host when unset); when the admin
 * listener fails (port in use) the function listener is closed and the error rethrown.
 */
export async function listenBoth(app: App, config: Config): Promise<Listeners> {
  let h2: H2Listener | undefined;
  const server = await listen(app.functions, config.port, config.host, app.functionsUpgrade, (s) => (h2 = serveH2c(s, app.functionStreams)));
  const adminHost = config.adminHost ?? config.host;
  let adminServer: http.Server;
  try {
    adminServer = await listen(app.admin, config.adminPort, adminHost, app.adminUpgrade);
  } catch (err) {
    server.close();
    throw err;
  }
  let own: Listeners['own'] = null;
  if (config.workers > 1) {
    try {
      // `exclusive`: in a cluster worker, listen(0) without it gets the port every worker shares.
      let ownH2: H2Listener | undefined;
      const ownServer = await listen(app.functions, 0, config.host, app.functionsUpgrade, (s) => (ownH2 = serveH2c(s, app.functionStreams)), true);
      own = { server: ownServer, port: (ownServer.address() as AddressInfo).port, h2: ownH2 as H2Listener };
    } catch (err) {
      server.close();
      adminServer.close();
      throw err;
    }
  }
  const port = (server.address() as AddressInfo).port;
  const adminPort = (adminServer.address() as AddressInfo).port;
  return { server, port, url: urlOf(config.host, port), h2: h2 as H2Listener, adminServer, adminHost, adminPort, adminUrl: urlOf(adminHost, adminPort), own };
}

/**
 * Listens with `handler` (and `upgrade` for upgrade requests) on `port` (0: any free port) of
 * `host`, `setup` run before; `exclusive`: a port of this process alone, even in a cluster
 * worker. Rejects on a listen error (port in use).
 */
async function listen(handler: http.RequestListener, port: number, host: string, upgrade: App['functionsUpgrade'], setup?: (server: http.Server) => void, exclusive = false): Promise<http.Server> {
  const server = http.createServer(handler);
  server.on('upgrade', upgrade);
  setup?.(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive }, () => resolve());
  });
  return server;
}

/** The URL a local client uses for a listener (a wildcard address becomes loopback). */
function urlOf(host: string, port: number): string {
  const local = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${local.includes(':') ? `[${local}]` : local}:${port}`;
}
