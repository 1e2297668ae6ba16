import type { Config } from '../config/index.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ReplicaProvider } from './types.js';

/** Builds the Kubernetes provider from the config (loaded only when ALERT_SCALER_PROVIDER=kubernetes). */
export async function createKubernetesProviderFromConfig(_config: Config, _logger: Logger): Promise<ReplicaProvider> {
  throw new AppError('CONFIG_INVALID', 'ALERT_SCALER_PROVIDER=kubernetes: the Kubernetes provider is not wired in yet');
}
