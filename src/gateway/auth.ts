import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../errors.js';

function sameSecret(a: string, b: string): boolean {
  // Hash first so lengths match and timing does not reveal the length.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** Basic auth for /system/*: 401 with a WWW-Authenticate challenge on a missing or wrong credential. */
export function basicAuth(credentials: { user: string; password: string }) {
  return function requireBasicAuth(req: Request, res: Response, next: NextFunction): void {
    const header = req.headers.authorization ?? '';
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim());
    if (match !== null) {
      const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon !== -1) {
        const userOk = sameSecret(decoded.slice(0, colon), credentials.user);
        const passwordOk = sameSecret(decoded.slice(colon + 1), credentials.password);
        if (userOk && passwordOk) {
          next();
          return;
        }
      }
    }
    res.setHeader('WWW-Authenticate', 'Basic realm="alert-scaler", charset="UTF-8"');
    next(new AppError('UNAUTHORIZED', 'missing or wrong basic auth credentials for /system'));
  };
}
