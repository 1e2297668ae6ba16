import { policyDefaults } from '../../src/config/defaults.js';
import { loadConfig } from '../../src/config/index.js';
import type { PolicyDefaults } from '../../src/policy/labels.js';

/** The policy of a function without scale labels, from the shipped config defaults (min 1, max 20, factor 20). */
export const DEFAULT_POLICY: PolicyDefaults = policyDefaults(
  loadConfig({}, () => {
    throw new Error('no config file');
  }),
);
