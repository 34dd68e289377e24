import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditTimeline } from '../../emulators/mft/dataset.js';
import { dryRunEvent, requestEvent } from '../../emulators/xray/event-factory.js';
import { parseEventTime, type OcsfEvent } from '../../functions/ocsf/mapping.js';
import { mapMftRecord } from '../../functions/ocsf/mft-mapping.js';
import { unprojectedPaths } from '../../functions/ocsf/parquet.js';
import { MFT_PROJECTION, XRAY_PROJECTION } from '../../functions/ocsf/sources.js';
import { validateOcsfEvent } from '../../functions/ocsf/validator.js';
import { mapXrayEvent } from '../../functions/ocsf/xray-mapping.js';

const mft = { tenant: 'tenant-1', filtersId: 'all' };
const xray = { tenant: 'acme.jfrog.io', filtersId: 'all' };

function mapped(result: ReturnType<typeof mapMftRecord>): OcsfEvent {
  if ('unmappable' in result) throw new Error(`unmappable: ${result.unmappable}`);
  return result.event;
}

/** Valid OCSF 1.1.0, and every attribute it has reaches the Parquet file. */
function expectValid(event: OcsfEvent, projection: typeof MFT_PROJECTION) {
  expect(validateOcsfEvent(event)).toEqual([]);
  expect(unprojectedPaths(event, projection)).toEqual([]);
}

const SAMPLE_MFT = {
  id: '5b1e2c4d-0f9a-4e6b-8c7d-112233445566', timestamp: '2026-11-02T10:15:30.250Z', actor: 'dana.kowalski@globex.io',
  actorType: 'User', action: 'Delete', resource: 'Task', resourceName: 'Partner invoices to SFTP', outcome: 'Success',
  sourceIp: '203.0.113.7', details: 'Deleted Task "Partner invoices to SFTP"',
};

describe('MFT → API Activity (6003)', () => {
  it('maps every field of a record', () => {
    const event = mapped(mapMftRecord(SAMPLE_MFT, mft));
    expectValid(event, MFT_PROJECTION);
    expect(event).toEqual({
      activity_id: 4, activity_name: 'Delete', category_uid: 6, category_name: 'Application Activity', class_uid: 6003, class_name: 'API Activity',
      type_uid: 600304, type_name: 'API Activity: Delete', severity_id: 1, severity: 'Informational',
      time: Date.parse('2026-11-02T10:15:30.250Z'), timezone_offset: 0, status_id: 1, status: 'Success',
      message: 'Deleted Task "Partner invoices to SFTP"',
      metadata: {
        version: '1.1.0', product: { name: 'Automate MFT', vendor_name: 'Progress' }, uid: SAMPLE_MFT.id, tenant_uid: 'tenant-1',
        log_name: 'Audit Logs', original_time: SAMPLE_MFT.timestamp,
      },
      actor: { user: { name: 'dana.kowalski@globex.io', email_addr: 'dana.kowalski@globex.io', type_id: 1, type: 'User' } },
      api: { operation: 'Delete' },
      src_endpoint: { ip: '203.0.113.7' },
      resources: [{ type: 'Task', name: 'Partner invoices to SFTP' }],
    });
  });

  it('maps every record of the emulator, JSON or CSV (all strings), to valid events', () => {
    const timeline = new AuditTimeline(42, 5000);
    for (let index = 0; index < 3000; index++) {
      const record = timeline.event(index);
      const fromCsv = Object.fromEntries(Object.entries(record).map(([key, value]) => [key, String(value)]));
      for (const input of [record, fromCsv]) expectValid(mapped(mapMftRecord(input as never, mft)), MFT_PROJECTION);
    }
  });

  it('gives unknown values the schema\'s 0 / 99 with the vendor\'s word, and keeps unknown fields unmapped', () => {
    const event = mapped(mapMftRecord({ ...SAMPLE_MFT, action: 'Login', outcome: 'Partial', actorType: 'ApiKey', actor: 'ci-deploy-key', region: 'eu', retries: 2 }, mft));
    expectValid(event, MFT_PROJECTION);
    expect(event).toMatchObject({
      activity_id: 99, activity_name: 'Login', type_uid: 600399, status_id: 99, status: 'Partial', api: { operation: 'Login' },
      actor: { user: { name: 'ci-deploy-key', type_id: 99, type: 'ApiKey' } },
      unmapped: { region: 'eu', retries: '2' },
    });
    const missing = mapped(mapMftRecord({ timestamp: SAMPLE_MFT.timestamp, actor: 'x', sourceIp: '2001:db8::1' }, mft));
    expectValid(missing, MFT_PROJECTION);
    expect(missing).toMatchObject({ activity_id: 0, activity_name: 'Unknown', status_id: 0, status: 'Unknown', actor: { user: { type_id: 0 } }, api: { operation: 'Unknown' } });
    // A resource group without a name cannot be a resource_details: kept unmapped.
    expect(mapped(mapMftRecord({ ...SAMPLE_MFT, resourceName: '' }, mft))).toMatchObject({ unmapped: { resource: 'Task' } });
  });

  it('reads the other names a vendor may give the fields', () => {
    const event = mapped(mapMftRecord({ eventId: 'e1', eventTime: '2026-11-02T10:15:30+02:00', userName: 'alice', ipAddress: '198.51.100.4', operation: 'create', result: 'failed' }, mft));
    expectValid(event, MFT_PROJECTION);
    expect(event).toMatchObject({ activity_id: 1, status_id: 2, severity_id: 2, timezone_offset: 120, time: Date.parse('2026-11-02T08:15:30Z'), metadata: { uid: 'e1' }, actor: { user: { name: 'alice' } }, src_endpoint: { ip: '198.51.100.4' } });
  });

  it('finds each field whatever the record\'s shape or the name\'s case, when shapes alternate from record to record', () => {
    const shapes = [
      SAMPLE_MFT,
      { TimeStamp: SAMPLE_MFT.timestamp, ACTOR: 'bob', SourceIP: '192.0.2.1', Action: 'update', id: 'x1', note: 'kept' },
      { details: 'd', actor: 'carol', timestamp: SAMPLE_MFT.timestamp, sourceIp: '', ip: '192.0.2.2', Note: 'kept too' },
    ];
    for (let round = 0; round < 3; round++) {
      const [sample, upper, reordered] = shapes.map((record) => mapped(mapMftRecord(record, mft)));
      expect(sample).toMatchObject({ actor: { user: { name: SAMPLE_MFT.actor } }, src_endpoint: { ip: SAMPLE_MFT.sourceIp } });
      expect(sample!.unmapped).toBeUndefined();
      expect(upper).toMatchObject({ activity_id: 3, actor: { user: { name: 'bob' } }, src_endpoint: { ip: '192.0.2.1' }, metadata: { uid: 'x1' }, unmapped: { note: 'kept' } });
      // An empty sourceIp is absent: the next name is read, and the empty field is not kept as unmapped.
      expect(reordered).toMatchObject({ message: 'd', actor: { user: { name: 'carol' } }, src_endpoint: { ip: '192.0.2.2' }, unmapped: { Note: 'kept too' } });
      expect(Object.keys(reordered!.unmapped as object)).toEqual(['Note']);
    }
  });

  it('reads ISO-8601 UTC instants to the millisecond Date.parse gives, and rejects what it rejects', () => {
    const pad = (value: number, width = 2) => String(value).padStart(width, '0');
    fc.assert(
      fc.property(
        fc.integer({ min: 1970, max: 2100 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 61 }), fc.integer({ min: 0, max: 61 }), fc.option(fc.integer({ min: 0, max: 999 })),
        (year, month, day, hours, minutes, seconds, millis) => {
          const text = `${year}-${pad(month)}-${pad(day)}T${pad(hours)}:${pad(minutes)}:${pad(seconds)}${millis === null ? '' : `.${pad(millis, 3)}`}Z`;
          const expected = Date.parse(text);
          const parsed = parseEventTime(text);
          if (Number.isNaN(expected)) expect(parsed).toBeUndefined();
          else expect(parsed).toEqual({ time: expected, timezoneOffset: 0 });
        },
      ),
      { numRuns: 5000 },
    );
    expect(parseEventTime('2026-11-01T24:00:00Z')).toEqual({ time: Date.parse('2026-11-02T00:00:00Z'), timezoneOffset: 0 });
    expect(parseEventTime('2026-11-01T24:00:00.001Z')).toBeUndefined();
    expect(parseEventTime('2026-11-01T10:00:00.1234Z')).toEqual({ time: Date.parse('2026-11-01T10:00:00.123Z'), timezoneOffset: 0 });
  });

  it('reports a record it cannot map instead of inventing what API Activity requires', () => {
    expect(mapMftRecord({ ...SAMPLE_MFT, timestamp: 'yesterday' }, mft)).toEqual({ unmappable: 'timestamp "yesterday" is not a date' });
    expect(mapMftRecord({ ...SAMPLE_MFT, timestamp: undefined }, mft)).toEqual({ unmappable: 'no timestamp' });
    expect(mapMftRecord({ ...SAMPLE_MFT, actor: '' }, mft)).toEqual({ unmappable: 'no actor (API Activity requires actor)' });
    expect(mapMftRecord({ ...SAMPLE_MFT, sourceIp: 'unknown' }, mft)).toEqual({ unmappable: 'source IP "unknown" is not an IP address' });
  });
});

const SAMPLE_XRAY = {
  id: 174, created_at: '2023-08-30T05:45:52Z', action: 'blocked', package_type: 'Docker', package_name: 'pumevnezdiroorg/drupal',
  package_version: 'latest', package_url: 'https://registry-1.docker.io/v2/pumevnezdiroorg/drupal/manifests/latest', reason: 'Policy violations',
  curated_repository_server_name: '', curated_repository_name: 'aviv-docker1', curated_project: 'default', username: 'admin', user_mail: '',
  origin_repository_server_name: 'z0curdocktest', origin_repository_name: 'aviv-docker1', origin_project: 'default',
  public_repo_url: 'https://registry-1.docker.io', public_repo_name: 'Docker Hub',
  policies: [{ policy_name: 'onlyOffical', policy_id: 3, dry_run: false, condition_name: 'Image is not Docker Hub official', condition_category: 'operational' }],
};

describe('Xray → Web Resources Activity (6001) with security_control', () => {
  it('maps the vendor\'s sample event', () => {
    const event = mapped(mapXrayEvent(SAMPLE_XRAY, xray));
    expectValid(event, XRAY_PROJECTION);
    expect(event).toMatchObject({
      class_uid: 6001, activity_id: 2, type_uid: 600102, action_id: 2, action: 'Denied', disposition_id: 2, disposition: 'Blocked', severity_id: 2,
      time: Date.parse('2023-08-30T05:45:52Z'), message: 'Policy violations',
      metadata: { uid: '174', profiles: ['host', 'security_control'], product: { name: 'Xray Curation', vendor_name: 'JFrog' } },
      actor: { user: { name: 'admin' } },
      web_resources: [
        { name: 'pumevnezdiroorg/drupal', type: 'Docker', url_string: SAMPLE_XRAY.package_url, data: { version: 'latest' } },
        { name: 'aviv-docker1', type: 'curated repository', data: { project: 'default' } },
        { name: 'aviv-docker1', type: 'origin repository', data: { server_name: 'z0curdocktest', project: 'default' } },
        { name: 'Docker Hub', type: 'public repository', url_string: 'https://registry-1.docker.io' },
      ],
      authorizations: [{ decision: 'blocked', policy: { uid: '3', name: 'onlyOffical', desc: 'Image is not Docker Hub official', group: { name: 'operational' } } }],
      unmapped: { 'policies[].dry_run': '[false]' },
    });
    expect((event.metadata as { labels?: unknown }).labels).toBeUndefined();
  });

  it('covers the wider shapes: action passed, policies null, fields beyond the sample', () => {
    const event = mapped(mapXrayEvent({ ...SAMPLE_XRAY, action: 'passed', policies: null, ecosystem: 'docker', ondemand: true, event_origin: 'curation' }, xray));
    expectValid(event, XRAY_PROJECTION);
    expect(event).toMatchObject({ action_id: 1, disposition_id: 1, disposition: 'Allowed', severity_id: 1, unmapped: { ecosystem: 'docker', ondemand: 'true', event_origin: 'curation' } });
    expect(event.authorizations).toBeUndefined();
    const approved = mapped(mapXrayEvent({ ...SAMPLE_XRAY, action: 'approved' }, xray));
    expect(approved).toMatchObject({ action_id: 1, disposition_id: 8, disposition: 'Approved' });
    const other = mapped(mapXrayEvent({ ...SAMPLE_XRAY, action: 'quarantined' }, xray));
    expectValid(other, XRAY_PROJECTION);
    expect(other).toMatchObject({ action_id: 0, action: 'Unknown', disposition_id: 99, disposition: 'quarantined' });
  });

  it('marks dry-run events and does not call them blocked', () => {
    const dry = mapped(mapXrayEvent({ ...SAMPLE_XRAY, policies: [{ ...SAMPLE_XRAY.policies[0]!, dry_run: true }] }, { ...xray, filtersId: 'dry-run' }));
    expectValid(dry, XRAY_PROJECTION);
    expect(dry).toMatchObject({ action_id: 1, disposition_id: 15, disposition: 'Detected', metadata: { labels: ['dry-run'], log_name: 'Curation audit: dry run' }, unmapped: { action: 'blocked' } });
  });

  it('maps every event of the emulator (real and dry-run) to valid events', () => {
    for (let index = 0; index < 2000; index++) {
      const request = requestEvent(9, index, index + 1, Date.UTC(2026, 10, 1) + index * 997);
      expectValid(mapped(mapXrayEvent(request as never, xray)), XRAY_PROJECTION);
      expectValid(mapped(mapXrayEvent(dryRunEvent(request, index + 10_000, 9, index, 0) as never, { ...xray, filtersId: 'dry-run' })), XRAY_PROJECTION);
    }
  });

  it('reports an event without a time or a package', () => {
    expect(mapXrayEvent({ ...SAMPLE_XRAY, created_at: undefined }, xray)).toEqual({ unmappable: 'no created_at' });
    expect(mapXrayEvent({ ...SAMPLE_XRAY, package_name: '' }, xray)).toEqual({ unmappable: 'no package_name (Web Resources Activity requires web_resources)' });
  });
});

describe('the validator', () => {
  const valid = mapped(mapMftRecord(SAMPLE_MFT, mft));
  const web = mapped(mapXrayEvent(SAMPLE_XRAY, xray));

  it('rejects what the schema forbids', () => {
    const { src_endpoint: _dropped, ...withoutSource } = valid;
    expect(validateOcsfEvent(withoutSource)).toContain('src_endpoint is required by api_activity');
    expect(validateOcsfEvent({ ...valid, type_uid: 600301 })).toContain('type_uid must be class_uid × 100 + activity_id = 600304');
    expect(validateOcsfEvent({ ...valid, category_uid: 3 })).toContain('category_uid must be 6 for API Activity');
    expect(validateOcsfEvent({ ...valid, activity_id: 7 })).toEqual(expect.arrayContaining(['activity_id 7 is not one of 0, 1, 2, 3, 4, 99']));
    expect(validateOcsfEvent({ ...valid, activity_name: 'Remove' })).toContain('activity_name must be "Delete", the caption of activity_id 4');
    expect(validateOcsfEvent({ ...valid, src_endpoint: { ip: '300.1.1.1' } })).toContain('src_endpoint.ip is not a valid ip_t: "300.1.1.1"');
    expect(validateOcsfEvent({ ...valid, actor: { user: { email_addr: 'a@b.io' } } })).toContain('actor.user needs at least one of account, name, uid');
    expect(validateOcsfEvent({ ...valid, time: '2026-01-01' })).toContain('time must be an integer (timestamp_t)');
    expect(validateOcsfEvent({ ...valid, severity_id: 2 ** 31 })).toContain('severity_id must be a 32-bit integer');
    expect(validateOcsfEvent({ ...valid, resources: { name: 'x' } })).toContain('resources must be an array');
    expect(validateOcsfEvent({ ...valid, colour: 'red' })).toContain('colour is not an attribute of api_activity');
    expect(validateOcsfEvent({ ...valid, metadata: { ...(valid.metadata as object), version: '1.0.0' } })).toContain('metadata.version must be 1.1.0');
  });

  it('allows a profile\'s attributes only when metadata.profiles applies it', () => {
    const metadata = web.metadata as Record<string, unknown>;
    expect(validateOcsfEvent({ ...web, metadata: { ...metadata, profiles: ['host'] } })).toEqual(
      expect.arrayContaining(['action_id belongs to the security_control profile, which metadata.profiles does not apply']),
    );
    expect(validateOcsfEvent({ ...web, metadata: { ...metadata, profiles: ['host', 'security_control', 'malware'] } })).toContain(
      'metadata.profiles: web_resources_activity does not support the profile malware',
    );
  });

  it('shows why MFT records are not Entity Management (3004): the source address has no place there', () => {
    const asEntity = {
      ...valid, class_uid: 3004, category_uid: 3, category_name: 'Identity & Access Management', class_name: 'Entity Management', type_uid: 300404,
      entity: { type: 'Task', name: 'Partner invoices to SFTP' }, api: undefined, resources: undefined,
      metadata: { ...(valid.metadata as object), profiles: ['host'] },
    };
    expect(validateOcsfEvent(JSON.parse(JSON.stringify(asEntity)))).toEqual(['src_endpoint is not an attribute of entity_management']);
  });
});
