import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileSchema, compiledSchemaFile, DEFAULT_SCHEMA_CHECKOUT, renderSchema } from '../../scripts/generate-ocsf-schema.js';
import { OCSF_SCHEMA } from '../../functions/ocsf/schema.js';

/** The committed compiled schema is what the generator makes of the OCSF 1.1.0 checkout beside the repository. */
describe('compiled OCSF schema', () => {
  it.skipIf(!existsSync(DEFAULT_SCHEMA_CHECKOUT))('is up to date with the schema checkout (regenerate with scripts/generate-ocsf-schema.ts)', () => {
    const compiled = compileSchema(DEFAULT_SCHEMA_CHECKOUT);
    expect(readFileSync(compiledSchemaFile(compiled.version), 'utf8')).toBe(renderSchema(compiled));
  });

  it('resolves inheritance, includes and profiles as the schema defines them', () => {
    const api = OCSF_SCHEMA.classes.api_activity!;
    expect(api.uid).toBe(6003);
    expect(api.categoryUid).toBe(6);
    // API Activity requires api, actor and src_endpoint; its api is its own ("profile": null), not the cloud profile's.
    expect(api.attributes.api).toMatchObject({ requirement: 'required' });
    expect(api.attributes.api!.profile).toBeUndefined();
    expect(api.attributes.src_endpoint).toMatchObject({ requirement: 'required', type: 'network_endpoint' });
    expect(api.attributes.activity_id!.enum).toEqual({ 0: 'Unknown', 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other' });

    const web = OCSF_SCHEMA.classes.web_resources_activity!;
    expect(web.uid).toBe(6001);
    expect(web.attributes.action_id).toMatchObject({ requirement: 'required', profile: 'security_control' });
    expect(web.attributes.actor).toMatchObject({ profile: 'host' });
    expect(web.profiles).toEqual(expect.arrayContaining(['host', 'security_control']));

    // Entity Management, the alternative the MFT mapping was compared with: no src_endpoint in 1.1.0.
    const entity = OCSF_SCHEMA.classes.entity_management!;
    expect(entity.uid).toBe(3004);
    expect(entity.attributes.entity).toMatchObject({ requirement: 'required' });
    expect(entity.attributes.src_endpoint).toBeUndefined();

    expect(OCSF_SCHEMA.objects.user!.attributes.name!.type).toBe('username_t');
    expect(OCSF_SCHEMA.objects.user!.constraints).toEqual({ at_least_one: ['account', 'name', 'uid'] });
    expect(OCSF_SCHEMA.types.ip_t!.base).toBe('string');
    expect(OCSF_SCHEMA.types.timestamp_t!.base).toBe('long');
  });
});
