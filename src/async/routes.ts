import { Router } from 'express';
import { AppError } from '../errors.js';
import type { AsyncQueue } from './types.js';

const MAX_LISTED = 1000;

/**
 * The admin API of async calls (mounted under `/system`, behind its auth):
 * `GET /async/dead-letters[?limit=N]` lists dead letters (oldest first, at most 1000, bodies
 * left out), `POST /async/dead-letters/<id>/replay` queues one again (404 when unknown).
 */
export function asyncRouter(queue: AsyncQueue): Router {
  const router = Router();
  router.get('/async/dead-letters', (req, res, next) => {
    const raw = Number(req.query['limit'] ?? 100);
    const limit = Number.isInteger(raw) && raw > 0 ? Math.min(raw, MAX_LISTED) : 100;
    queue.deadLetters(limit).then(
      (dead) =>
        res.json(
          dead.map((d) => ({ id: d.call.id, function: d.call.fn, method: d.call.method, path: d.call.path, query: d.call.query, reason: d.reason, attempts: d.attempts, at: new Date(d.at).toISOString(), acceptedAt: new Date(d.call.acceptedAt).toISOString(), bodyBytes: Buffer.byteLength(d.call.body, 'base64') })),
        ),
      next,
    );
  });
  router.post('/async/dead-letters/:id/replay', (req, res, next) => {
    const id = req.params['id'] ?? '';
    queue.replay(id).then((found) => {
      if (!found) throw new AppError('NOT_FOUND', `no dead letter ${id}`);
      res.status(202).json({ id, replayed: true });
    }).catch(next);
  });
  return router;
}
