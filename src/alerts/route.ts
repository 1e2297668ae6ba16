import { Router } from 'express';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import type { AlertScaler } from './alert-scaler.js';
import { parseWebhook } from './payload.js';

/**
 * `POST /system/alert`: the Alertmanager webhook. 400 for a malformed payload, with the
 * problems naming each bad field (nothing changes; Alertmanager drops 4xx), 503 when any alert hit a provider failure (Alertmanager
 * retries 5xx; steps already applied are not repeated thanks to the cooldown), else 200.
 */
export function alertRouter(deps: { alertScaler: AlertScaler; metrics: Metrics }): Router {
  const router = Router();
  router.post('/alert', async (req, res) => {
    const parsed = await parseWebhook(req.body);
    if (!parsed.ok) {
      deps.metrics.webhookRequests.inc({ code: '400' });
      throw new AppError('ALERT_INVALID', 'body is not an Alertmanager webhook payload (version 4)', { details: { problems: parsed.problems } });
    }
    const results = await deps.alertScaler.applyAll(parsed.payload.alerts);
    const failed = results.some((r) => r.outcome === 'failed');
    const code = failed ? 503 : 200;
    deps.metrics.webhookRequests.inc({ code: String(code) });
    if (failed) res.setHeader('Retry-After', '1');
    res.status(code).json({ status: failed ? 'retry' : 'ok', results });
  });
  return router;
}
