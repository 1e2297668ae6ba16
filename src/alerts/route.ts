import { Router } from 'express';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import type { AlertScaler } from './alert-scaler.js';
import { MAX_WEBHOOK_DEPTH, readJsonBody } from './body.js';
import { parseWebhook } from './payload.js';

export interface AlertRouterDeps {
  readonly alertScaler: AlertScaler;
  readonly metrics: Metrics;
  /** Largest notification accepted, in bytes (`webhookBodyLimitBytes`); 413 above it. */
  readonly bodyLimitBytes: number;
}

/**
 * `POST /system/alert`: the Alertmanager webhook. It reads its own body, with its own limit
 * (one notification carries a whole alert group: megabytes), scanning the nesting as it
 * arrives. 400 for a malformed payload, with the problems naming each bad field (nothing
 * changes; Alertmanager drops 4xx), 413 over the limit, 503 when any alert hit a provider
 * failure (Alertmanager retries 5xx; steps already applied are not repeated thanks to the
 * cooldown), else 200. Mount it before any body parser.
 */
export function alertRouter(deps: AlertRouterDeps): Router {
  const router = Router();
  router.post('/alert', async (req, res) => {
    const body = await readJsonBody(req, deps.bodyLimitBytes, MAX_WEBHOOK_DEPTH);
    const parsed = body.ok
      ? await parseWebhook(body.value)
      : { ok: false as const, problems: [`(body): nested deeper than ${MAX_WEBHOOK_DEPTH} levels; a webhook payload is 4 deep`] };
    if (!parsed.ok) {
      deps.metrics.webhookRequests.inc({ code: '400' });
      throw new AppError('ALERT_INVALID', 'body is not an Alertmanager webhook payload (version 4)', { details: { problems: parsed.problems } });
    }
    const results = await deps.alertScaler.applyAll(parsed.payload.alerts);
    const failed = results.some((r) => r.outcome === 'failed');
    const code = failed ? 503 : 200;
    deps.metrics.webhookRequests.inc({ code: String(code) });
    if (failed) res.setHeader('Retry-After', '1');
    // What res.json sends here (no replacer, spaces or escape set; etag off; a POST is never
    // fresh), without its content-type parse and charset rewrite on every notification.
    const text = JSON.stringify({ status: failed ? 'retry' : 'ok', results });
    res.statusCode = code;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  });
  return router;
}
