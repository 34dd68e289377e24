import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SINGLE_OBJECT_CONFIGS } from './single-object-configs.js';
import { sourceIdentity, type SourceIdentity } from './source-identity.js';
import { synthesize } from './synth.js';

/**
 * What the single-object configurations synthesized before sources took a list of instances. Regenerate it only
 * from code that predates a change meant to keep deployed sources as they are.
 */
const BEFORE = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'single-object-identity.json'), 'utf8')) as Record<string, SourceIdentity>;

describe('a single-object source, as configured before instances', () => {
  for (const [name, config] of Object.entries(SINGLE_OBJECT_CONFIGS)) {
    it(`${name}: the same source resources, logical ids, names, alarms, schedules and outputs as before; bucket and table kept`, () => {
      const now = sourceIdentity(synthesize(config).template);
      const before = BEFORE[name]!;
      expect(now.sources).toEqual(before.sources);
      expect(now.outputs).toEqual(before.outputs);
      // Resources outside the sources may be added by other features, never replaced.
      for (const [id, type] of Object.entries(before.shared)) expect(now.shared[id], id).toBe(type);
    });
  }
});
