import { AppError } from '../errors.js';

/** A request target on the function route, split without decoding the path or the query. */
export interface FunctionTarget {
  /** The function segment, percent-decoded: `name` or `name.namespace`. */
  readonly name: string;
  /** The raw sub-path after `/function/<name>`: empty or starting with `/`, byte for byte as sent. */
  readonly path: string;
  /** The raw query with its `?`, or empty. */
  readonly query: string;
}

const PREFIX = '/function/';
/**
 * True when `text` holds what cannot go upstream: the bytes Node's http client refuses in a
 * path (it would throw), DEL, and `#` (no fragment in a request target, RFC 9112 3.2).
 */
function hasForbiddenByte(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x23 || c > 0xff) return true;
  }
  return false;
}

/** A function name: not empty, no separators, no forbidden bytes, not starting with a dot. */
function isName(name: string): boolean {
  return name !== '' && name.charCodeAt(0) !== 0x2e && name.indexOf('/') === -1 && name.indexOf('\\') === -1 && !hasForbiddenByte(name);
}
/** Path separators as a server may read them: `/`, `\` and their percent-encodings. */
const SEPARATOR = /\/|\\|%2f|%5c/i;
const ENCODED_DOT = /%2e/gi;

/** The origin-form part of a request target (`/...`); absolute-form loses its scheme and authority. */
function originForm(url: string): string {
  if (url.charCodeAt(0) === 47) return url;
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i.exec(url);
  if (m === null) return url;
  const rest = url.slice(m[0].length);
  return rest === '' ? '/' : rest;
}

/** True when a raw request target belongs to the function route (`/function/...`). */
export function isFunctionRoute(url: string): boolean {
  return url.startsWith(PREFIX) || (url.charCodeAt(0) !== 47 && originForm(url).startsWith(PREFIX));
}

/**
 * True when the dot-segments of a raw sub-path would climb above its base: `..` or
 * `%2e%2e` in any case, mixed, separated by `/`, `\`, `%2f` or `%5c`, with or without a
 * `;param`. Empty and `.` segments do not count as depth (stricter than RFC 3986 5.2.4).
 */
export function climbsAboveBase(path: string): boolean {
  if (path.indexOf('.') === -1 && path.indexOf('%') === -1) return false;
  let depth = 0;
  for (const raw of path.split(SEPARATOR)) {
    const semicolon = raw.indexOf(';');
    const segment = (semicolon === -1 ? raw : raw.slice(0, semicolon)).replace(ENCODED_DOT, '.');
    if (segment === '..') {
      depth -= 1;
      if (depth < 0) return true;
    } else if (segment !== '' && segment !== '.') {
      depth += 1;
    }
  }
  return false;
}

/**
 * Splits a raw request target of the function route. The sub-path and the query stay as the
 * client sent them (no decode, no re-encode); only the function name is decoded.
 * Throws BAD_REQUEST for a target that would climb above the function's base or that holds
 * bytes that cannot be forwarded, NOT_FOUND when the name is empty (as for any unknown route).
 */
export function parseFunctionTarget(url: string): FunctionTarget {
  const target = originForm(url);
  if (hasForbiddenByte(target)) throw new AppError('BAD_REQUEST', 'request target holds control characters, a fragment or bytes that cannot be forwarded');
  const queryAt = target.indexOf('?');
  const pathname = queryAt === -1 ? target : target.slice(0, queryAt);
  const query = queryAt === -1 ? '' : target.slice(queryAt);
  const nameEnd = pathname.indexOf('/', PREFIX.length);
  const rawName = nameEnd === -1 ? pathname.slice(PREFIX.length) : pathname.slice(PREFIX.length, nameEnd);
  const path = nameEnd === -1 ? '' : pathname.slice(nameEnd);
  if (rawName === '') throw new AppError('NOT_FOUND', 'no function name in the path');
  let name = rawName;
  if (rawName.indexOf('%') !== -1) {
    try {
      name = decodeURIComponent(rawName);
    } catch (err) {
      throw new AppError('BAD_REQUEST', 'function name is not valid percent-encoding', { cause: err });
    }
  }
  if (!isName(name)) throw new AppError('BAD_REQUEST', 'not a function name');
  if (climbsAboveBase(path)) throw new AppError('BAD_REQUEST', 'path climbs above the function base');
  return { name, path, query };
}

/** The path a call is sent to on `url` (a replica, or another gateway's function route): its base, then the sub-path and query as sent. */
export function upstreamPath(url: URL, target: FunctionTarget): string {
  const base = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : '';
  return base + (target.path === '' ? '/' : target.path) + target.query;
}
