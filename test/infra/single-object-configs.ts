import type { AuditExportConfigInput } from '../../infra/config.js';
import { defaultConfig, TEST_ENV } from './synth.js';

/**
 * Configurations in the single-object form every deployment used before a source could list instances: the
 * fixture single-object-identity.json holds what they synthesized then (test/infra/instances.test.ts).
 */
export const SINGLE_OBJECT_CONFIGS: Record<string, AuditExportConfigInput> = {
  /** cdk.json as shipped: MFT only, the tenant id read from the secret. */
  shipped: defaultConfig(),
  /** Both sources with the optional knobs set. */
  both: {
    env: TEST_ENV,
    bucket: { exportPrefix: 'audit/' },
    alarms: { email: 'secops@example.com', checkpointLagSeconds: 7200 },
    sources: {
      mft: { baseUrl: 'https://api.eu.mft.progress.com', tenantId: 'acme-prod', type: 'csv', filters: { actions: ['Delete'] }, schedule: 'rate(1 hour)' },
      xray: { enabled: true, baseUrl: 'https://acme.jfrog.io', tenant: 'acme', format: 'csv' },
    },
  },
};
