import { BlockList, isIPv4 } from 'node:net';
import { AppError } from '../errors.js';

/** Hop-by-hop headers (RFC 9110 7.6.1 and the usual non-standard ones); never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/**
 * What a call that comes in on the admin listener never takes to a function: the operator's
 * credentials (the admin listener's basic auth, the admin page's cookies).
 */
export const OPERATOR_CREDENTIALS: ReadonlySet<string> = new Set(['authorization', 'cookie']);
/**
 * What a function's answer never sets on the admin listener: a credentials prompt (a browser
 * answers it with the operator's cached basic auth), cookies, and site-data wipes of the admin origin.
 */
export const ADMIN_ORIGIN_HEADERS: ReadonlySet<string> = new Set(['www-authenticate', 'set-cookie', 'clear-site-data']);
/** A client's claims about earlier hops; kept only from a trusted proxy. */
const FORWARDING_CLAIMS = new Set(['x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'forwarded', 'x-real-ip']);

/** Names listed in `Connection:` values (lower case); null when there are none. */
function connectionNamed(raw: readonly string[]): Set<string> | null {
  let named: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const token of (raw[i + 1] ?? '').split(',')) {
        const name = token.trim().toLowerCase();
        if (name !== '') (named ??= new Set()).add(name);
      }
    }
  }
  return named;
}

/**
 * Decides whether a peer address is a trusted proxy. Entries are addresses or CIDR subnets
 * (`10.0.0.0/8`, `::1`); an IPv4-mapped IPv6 peer (`::ffff:10.1.2.3`) counts as its IPv4.
 * Undefined or empty trusts no one.
 */
export function trustedProxyCheck(entries: readonly string[] | undefined): (address: string | undefined) => boolean {
  if (entries === undefined || entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', bits] = entry.split('/');
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    try {
      if (bits === undefined) list.addAddress(address, type);
      else list.addSubnet(address, Number(bits), type);
    } catch (err) {
      throw new AppError('CONFIG_INVALID', `trustedProxies: ${entry} is not an address or subnet`, { cause: err });
    }
  }
  return (address) => {
    if (address === undefined) return false;
    const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : null;
    return v4 !== null ? list.check(v4, 'ipv4') : list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
  };
}

/** What the request headers say, read in the one pass that builds the forwarded list. */
export interface RequestHeaders {
  /** Flat [name, value, ...] list for the upstream (`Host` is added when sending). */
  readonly forward: string[];
  /** Declared Content-Length (NaN when absent). */
  readonly contentLength: number;
  /** A `Transfer-Encoding` was sent: a body of unknown length follows (chunked). */
  readonly chunked: boolean;
  /** A non-empty `Idempotency-Key` was sent: the client allows the call to be sent twice (kept, forwarded). */
  readonly idempotencyKey: boolean;
  /** The Host the client sent ('' when absent). */
  readonly host: string;
}

/**
 * The request headers for the upstream: hop-by-hop headers and those named in `Connection:`
 * dropped; `X-Forwarded-For` gets the peer appended to any existing chain;
 * `X-Forwarded-Host`/`-Proto` are what the gateway saw; other forwarding claims
 * (`X-Forwarded-Host`, `-Proto`, `-Port`, `Forwarded`, `X-Real-IP`) pass only from a trusted peer;
 * `drop` (lower-case names, e.g. OPERATOR_CREDENTIALS) never pass.
 */
export function requestHeaders(raw: readonly string[], peer: string | undefined, encrypted: boolean, isTrusted: (address: string | undefined) => boolean, drop?: ReadonlySet<string>): RequestHeaders {
  const named = connectionNamed(raw);
  const forward: string[] = [];
  let contentLength = Number.NaN;
  let chunked = false;
  let idempotencyKey = false;
  let host = '';
  let chain = '';
  let trusted: boolean | null = null;
  let keptHost = false;
  let keptProto = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const value = raw[i + 1] ?? '';
    const lower = name.toLowerCase();
    if (lower === 'host') {
      host = value;
      continue;
    }
    if (lower === 'transfer-encoding') chunked = true;
    if (HOP_BY_HOP.has(lower) || (named !== null && named.has(lower)) || drop?.has(lower) === true) continue;
    if (lower === 'x-forwarded-for') {
      chain = chain === '' ? value : `${chain}, ${value}`;
      continue;
    }
    if (FORWARDING_CLAIMS.has(lower)) {
      trusted ??= isTrusted(peer);
      if (!trusted) continue;
      if (lower === 'x-forwarded-host') keptHost = true;
      if (lower === 'x-forwarded-proto') keptProto = true;
    }
    if (lower === 'content-length') contentLength = Number(value);
    else if (lower === 'idempotency-key' && value.trim() !== '') idempotencyKey = true;
    forward.push(name, value);
  }
  const address = peer ?? '';
  forward.push('X-Forwarded-For', chain === '' ? address : `${chain}, ${address}`);
  if (!keptHost && host !== '') forward.push('X-Forwarded-Host', host);
  if (!keptProto) forward.push('X-Forwarded-Proto', encrypted ? 'https' : 'http');
  return { forward, contentLength, chunked, idempotencyKey, host };
}

/** The upstream's response headers minus hop-by-hop ones, those named in its `Connection:` and those in `drop` (e.g. ADMIN_ORIGIN_HEADERS). */
export function responseHeaders(raw: readonly string[], drop?: ReadonlySet<string>): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (named !== null && named.has(lower)) || drop?.has(lower) === true) continue;
    out.push(name, raw[i + 1] ?? '');
  }
  return out;
}
