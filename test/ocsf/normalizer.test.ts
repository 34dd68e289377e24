import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync, gunzipSync } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFolder, MANIFEST_NAME } from '../../functions/common/manifest.js';
import { createNormalizeHandler } from '../../functions/ocsf/handler.js';
import type { OcsfEvent } from '../../functions/ocsf/mapping.js';
import { normalizeWindow, type NormalizeResult, type NormalizerDeps } from '../../functions/ocsf/normalizer.js';
import { unprojectedPaths } from '../../functions/ocsf/parquet.js';
import { validateOcsfEvent } from '../../functions/ocsf/validator.js';
import { silentLogger } from '../../functions/common/observability.js';
import { runMftExport, runXrayExport } from '../../local/run-export.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { DuckDb } from './duckdb.js';

/**
 * The normalizer on the twin, downstream of real exports (MFT JSON and CSV reports; Xray gzip NDJSON and CSV parts,
 * real and dry-run), its Parquet files read back by DuckDB.
 */

let twin: Twin;
let directory: string;
let db: DuckDb;
const problems: string[] = [];
let inspected = 0;

const MFT_JSON_WINDOW = { start: '2026-11-02T00:00:00Z', end: '2026-11-02T02:00:00Z' };
const MFT_CSV_WINDOW = { start: '2026-11-03T05:00:00Z', end: '2026-11-03T06:00:00Z' };
const hour = 3_600_000;
const thisHour = Math.floor(Date.now() / hour) * hour;
const XRAY_JSON_WINDOW = { start: new Date(thisHour - 30 * hour).toISOString(), end: new Date(thisHour - 27 * hour).toISOString() };
const XRAY_CSV_WINDOW = { start: new Date(thisHour - 50 * hour).toISOString(), end: new Date(thisHour - 48 * hour).toISOString() };

function deps(overrides: Partial<NormalizerDeps> = {}): NormalizerDeps {
  return {
    s3: twin.s3Client,
    bucket: twin.s3.bucket,
    region: 'eu-west-1',
    accountId: '123456789012',
    destination: async (source) => ({ s3: twin.s3Client, bucket: twin.s3.bucket, prefix: `ocsf/ext/${source.source}-test/` }),
    inspect: (event, source) => {
      inspected++;
      for (const problem of [...validateOcsfEvent(event), ...unprojectedPaths(event, source.layout.projection).map((p) => `${p} is not in the Parquet projection`)]) {
        if (problems.length < 20) problems.push(`${source.source} ${String((event.metadata as { uid?: string }).uid)}: ${problem}`);
      }
    },
    ...overrides,
  };
}

async function manifests(prefix: string): Promise<string[]> {
  return (await listFolder(twin.s3Client, twin.s3.bucket, prefix)).filter((key) => key.endsWith(`/${MANIFEST_NAME}`));
}

async function readManifest(key: string): Promise<{ records: number; objects: { key: string; records: number }[]; window: { start: string } } & Record<string, unknown>> {
  const object = await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: key }));
  return JSON.parse(await object.Body!.transformToString());
}

async function ocsfObjects(): Promise<string[]> {
  return listFolder(twin.s3Client, twin.s3.bucket, 'ocsf/');
}

const results = new Map<string, NormalizeResult>();

async function exportAndNormalize(): Promise<void> {
  const mft = twin.mftRuntime({ pollIntervalSeconds: 1 });
  for (const [window, type] of [[MFT_JSON_WINDOW, 'json'], [MFT_CSV_WINDOW, 'csv']] as const) {
    const run = await runMftExport(mft, { input: { window, type }, waitMs: 0, retryMs: 5 });
    expect(run.status, `${run.error}: ${run.cause}`).toBe('SUCCEEDED');
  }
  for (const input of [{ window: XRAY_JSON_WINDOW, format: 'json' }, { window: XRAY_CSV_WINDOW, format: 'csv' }, { window: XRAY_JSON_WINDOW, format: 'json', dryRun: true }] as const) {
    const run = await runXrayExport(twin.xrayRuntime(), { input, waitMs: 0, retryMs: 5 });
    expect(run.status, `${run.error}: ${run.cause}`).toBe('SUCCEEDED');
  }
  for (const key of await manifests('source=')) results.set(key, await normalizeWindow(deps(), key));
}

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'ocsf-'));
  twin = await startTwin({ directory, xray: { events: 40_000 }, mft: { reportReadyAfterMs: 0, eventsPerHour: 400 } });
  db = await DuckDb.open();
  await exportAndNormalize();
}, 240_000);

afterAll(async () => {
  db?.close();
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

describe('OCSF normalizer on the twin', () => {
  it('normalized every window of every stream, and every event it wrote is valid OCSF 1.1.0 held by the file', () => {
    const kinds = [...results.keys()].map((key) => key.split('/').slice(0, 3).join('/'));
    expect(new Set(kinds)).toEqual(new Set([
      expect.stringMatching(/^source=mft\/tenant=.*\/filters=all$/),
      expect.stringMatching(/^source=mft\/tenant=.*\/filters=all-csv$/),
      'source=xray/tenant=xray-twin/filters=all',
      'source=xray/tenant=xray-twin/filters=all-csv',
      'source=xray/tenant=xray-twin/filters=dry-run',
    ]));
    expect(results.size).toBe(2 + 1 + 3 + 2 + 3);
    for (const result of results.values()) expect(result).toMatchObject({ status: 'written', unmappable: 0, attempts: 1 });
    expect(inspected).toBe([...results.values()].reduce((sum, result) => sum + result.events, 0));
    expect(inspected).toBeGreaterThan(1000);
    expect(problems).toEqual([]);
  });

  it('writes one file per window in the Security Lake layout, the dry-run stream apart', async () => {
    const objects = await ocsfObjects();
    expect(objects).toHaveLength(results.size);
    for (const [manifestKey, result] of results) {
      const manifest = await readManifest(manifestKey);
      const day = manifest.window.start.slice(0, 10).replaceAll('-', '');
      expect(result.key).toMatch(new RegExp(`^ocsf/ext/(mft|xray)-test/region=eu-west-1/accountId=123456789012/eventDay=${day}/[a-z]+_[^/]+_(all|dry-run)_\\d{8}T\\d{6}Z_\\d{8}T\\d{6}Z\\.parquet$`));
      expect(objects).toContain(result.key);
    }
    expect(objects.filter((key) => key.includes('_dry-run_'))).toHaveLength(3);
  });

  it('files read back by DuckDB hold the manifest\'s records, sorted by time, with the expected columns and types', async () => {
    for (const [manifestKey, result] of results) {
      const manifest = await readManifest(manifestKey);
      const file = DuckDb.file(twin.s3.objectPath(result.key!));
      const [counts] = await db.rows(`SELECT count(*)::INTEGER AS n, count(DISTINCT metadata.uid)::INTEGER AS ids FROM ${file}`);
      // Xray CSV rows are one per (event, policy): the manifest counts rows, the file holds events (one per id).
      const csvRows = manifestKey.startsWith('source=xray/') && String(manifest.format) === 'csv.gz';
      expect(counts!.ids).toBe(counts!.n);
      if (!csvRows) expect(counts!.n).toBe(manifest.records);
      else {
        const ids = new Set<string>();
        for (const object of manifest.objects) {
          const body = gunzipSync(Buffer.from(await (await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: object.key }))).Body!.transformToByteArray()));
          for (const line of body.toString('utf8').split('\r\n').slice(1)) if (line) ids.add(line.slice(0, line.indexOf(',')));
        }
        expect(counts!.n).toBe(ids.size);
      }
      const [order] = await db.rows(`SELECT count(*)::INTEGER AS descending FROM (SELECT time < lag(time) OVER (ORDER BY file_row_number) AS down FROM ${file}) WHERE down`);
      expect(order!.descending).toBe(0);
    }
    const mftFile = DuckDb.file(twin.s3.objectPath([...results.values()].find((result) => result.source === 'mft')!.key!));
    const columns = Object.fromEntries((await db.rows(`DESCRIBE SELECT * EXCLUDE (file_row_number) FROM ${mftFile}`)).map((row) => [row.column_name, row.column_type]));
    expect(columns).toMatchObject({
      class_uid: 'INTEGER', activity_id: 'INTEGER', type_uid: 'BIGINT', time: 'BIGINT', severity_id: 'INTEGER', status_id: 'INTEGER',
      metadata: 'STRUCT("version" VARCHAR, uid VARCHAR, product STRUCT("name" VARCHAR, vendor_name VARCHAR), tenant_uid VARCHAR, log_name VARCHAR, original_time VARCHAR, profiles VARCHAR[], labels VARCHAR[])',
      actor: 'STRUCT("user" STRUCT("name" VARCHAR, email_addr VARCHAR, type_id INTEGER, "type" VARCHAR))',
      api: 'STRUCT(operation VARCHAR)',
      src_endpoint: 'STRUCT(ip VARCHAR)',
      resources: 'STRUCT("type" VARCHAR, "name" VARCHAR)[]',
      unmapped: 'MAP(VARCHAR, VARCHAR)',
    });
    const xrayFile = DuckDb.file(twin.s3.objectPath([...results.values()].find((result) => result.source === 'xray')!.key!));
    const xrayColumns = Object.fromEntries((await db.rows(`DESCRIBE SELECT * FROM ${xrayFile}`)).map((row) => [row.column_name, row.column_type]));
    expect(xrayColumns).toMatchObject({
      class_uid: 'INTEGER', action_id: 'INTEGER', disposition_id: 'INTEGER', time: 'BIGINT',
      web_resources: 'STRUCT("name" VARCHAR, "type" VARCHAR, url_string VARCHAR, "data" VARCHAR)[]',
      authorizations: 'STRUCT(decision VARCHAR, "policy" STRUCT(uid VARCHAR, "name" VARCHAR, "desc" VARCHAR, "group" STRUCT("name" VARCHAR)))[]',
    });
    const [compression] = await db.rows(`SELECT list(DISTINCT compression) AS codecs, max(row_group_num_rows)::INTEGER AS rows FROM parquet_metadata('${twin.s3.objectPath([...results.values()][0]!.key!)}')`);
    expect(compression!.codecs).toEqual(['ZSTD']);
  });

  it('holds what the vendor sent: the MFT report\'s ids and times, field for field', async () => {
    const [manifestKey, result] = [...results].find(([key]) => key.startsWith('source=mft/') && key.includes('window=20261102T000000Z'))!;
    const manifest = await readManifest(manifestKey);
    const report = JSON.parse(await (await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: manifest.objects[0]!.key }))).Body!.transformToString()) as Record<string, string>[];
    const rows = await db.rows(`SELECT metadata.uid AS id, time, activity_name, status, actor.user.name AS actor, actor.user.type AS actor_type, src_endpoint.ip AS ip, resources[1].type AS resource, resources[1].name AS resource_name, message FROM ${DuckDb.file(twin.s3.objectPath(result.key!))} ORDER BY file_row_number`);
    const expected = report
      .map((event) => ({ id: event.id, time: Date.parse(event.timestamp!), activity_name: event.action === 'Get' ? 'Read' : event.action, status: event.outcome === 'Error' ? 'Failure' : 'Success', actor: event.actor, actor_type: event.actorType === 'User' ? 'User' : event.actorType, ip: event.sourceIp, resource: event.resource, resource_name: event.resourceName, message: event.details }))
      .sort((a, b) => a.time - b.time);
    expect(rows.map((row) => ({ ...row, time: Number(row.time) }))).toEqual(expected);
  });

  it('answers the demo\'s questions exactly: blocked packages by repository, MFT deletions by actor', async () => {
    const expectedBlocked = new Map<string, number>();
    const files: string[] = [];
    for (const [key, result] of results) {
      if (!key.startsWith('source=xray/tenant=xray-twin/filters=all/')) continue;
      const manifest = await readManifest(key);
      if (String(manifest.format) !== 'ndjson.gz') continue;
      files.push(`'${twin.s3.objectPath(result.key!)}'`);
      for (const object of manifest.objects) {
        const body = gunzipSync(Buffer.from(await (await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: object.key }))).Body!.transformToByteArray()));
        for (const line of body.toString('utf8').split('\n')) {
          if (!line) continue;
          const event = JSON.parse(line) as { action: string; curated_repository_name: string };
          if (event.action === 'blocked') expectedBlocked.set(event.curated_repository_name, (expectedBlocked.get(event.curated_repository_name) ?? 0) + 1);
        }
      }
    }
    const blocked = await db.rows(`
      SELECT r.name AS repository, count(*)::INTEGER AS blocked
      FROM read_parquet([${files.join(', ')}], hive_partitioning = false), unnest(web_resources) AS t(r)
      WHERE disposition_id = 2 AND r.type = 'curated repository' GROUP BY ALL ORDER BY repository`);
    expect(blocked.length).toBeGreaterThan(1);
    expect(Object.fromEntries(blocked.map((row) => [row.repository, row.blocked]))).toEqual(Object.fromEntries([...expectedBlocked].sort()));

    const expectedDeletions = new Map<string, number>();
    const mftFiles: string[] = [];
    for (const [key, result] of results) {
      if (!key.startsWith('source=mft/')) continue;
      mftFiles.push(`'${twin.s3.objectPath(result.key!)}'`);
      const manifest = await readManifest(key);
      const body = await (await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: manifest.objects[0]!.key }))).Body!.transformToString();
      const events: Record<string, string>[] = String(manifest.format) === 'json' ? JSON.parse(body) : [];
      for (const event of events) if (event.action === 'Delete') expectedDeletions.set(event.actor!, (expectedDeletions.get(event.actor!) ?? 0) + 1);
    }
    const deletions = await db.rows(`
      SELECT actor.user.name AS actor, count(*)::INTEGER AS deletions
      FROM read_parquet([${mftFiles.join(', ')}], hive_partitioning = false)
      WHERE activity_id = 4 AND metadata.original_time < '2026-11-03' GROUP BY ALL`);
    expect(Object.fromEntries(deletions.map((row) => [row.actor, row.deletions]))).toEqual(Object.fromEntries(expectedDeletions));
  });
});

describe('re-exports, stale copies and damaged input', () => {
  it('a window exported again in the other format (a manifest of its own) leaves exactly one OCSF object for it', async () => {
    const window = { start: XRAY_JSON_WINDOW.start, end: new Date(Date.parse(XRAY_JSON_WINDOW.start) + hour).toISOString() };
    const inWindow = (candidate: string) => candidate.includes(`window=${window.start.replace(/[-:]/g, '').replace('.000', '')}`);
    const key = (await manifests('source=xray/tenant=xray-twin/filters=all/')).find(inWindow)!;
    const first = await readManifest(key);
    const before = await ocsfObjects();
    // The same window exported again as CSV: its own folder and manifest (the JSON one stays as it was), and the
    // same OCSF key, since the OCSF file is the window's events whatever format they were exported in.
    const run = await runXrayExport(twin.xrayRuntime(), { input: { window, format: 'csv' }, waitMs: 0, retryMs: 5 });
    expect(run.status).toBe('SUCCEEDED');
    expect(await readManifest(key)).toEqual(first);
    const csvKey = (await manifests('source=xray/tenant=xray-twin/filters=all-csv/')).find(inWindow)!;
    const manifest = await readManifest(csvKey);
    expect(manifest.objects.map((object) => object.key)).not.toEqual(first.objects.map((object) => object.key));
    const result = await normalizeWindow(deps(), csvKey);
    expect(result).toMatchObject({ status: 'written', events: first.records });
    const after = await ocsfObjects();
    expect(after).toEqual(before); // the window's object was replaced in place, nothing added
    expect(after.filter((object) => object === result.key)).toHaveLength(1);
    const [count] = await db.rows(`SELECT count(*)::INTEGER AS n FROM ${DuckDb.file(twin.s3.objectPath(result.key!))}`);
    expect(count!.n).toBe(first.records);
  });

  it('a newer manifest written while a window is normalized wins: the file holds what the current manifest lists', async () => {
    const [key, first] = [...results].find(([candidate]) => candidate.startsWith('source=mft/') && candidate.includes('window=20261102T010000Z'))!;
    const manifest = await readManifest(key);
    let replaced = false;
    const emptier = { ...manifest, version: 2, generation: 2, objects: [], records: 0, bytes: 0 };
    const result = await normalizeWindow(
      deps({
        inspect: () => {
          if (replaced) return;
          replaced = true;
          void twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: key, Body: JSON.stringify(emptier) }));
        },
      }),
      key,
    );
    expect(replaced).toBe(true);
    // The second attempt read the newer (version 2) manifest, which lists nothing: the window's file is gone.
    expect(result).toMatchObject({ status: 'removed', events: 0, attempts: 2 });
    expect(await ocsfObjects()).not.toContain(first.key);
    // Restore the window for the tests after this one.
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: key, Body: JSON.stringify(manifest) }));
    expect(await normalizeWindow(deps(), key)).toMatchObject({ status: 'written', events: manifest.records });
  });

  it('sorts a window out of time order through spill files, and counts what it cannot read or map without failing', async () => {
    const folder = 'source=xray/tenant=shuffled/filters=all/dt=2026-11-05/window=20261105T000000Z--20261105T010000Z/';
    const base = Date.parse('2026-11-05T00:00:00Z');
    const lines: string[] = [];
    for (let index = 0; index < 1000; index++) {
      const at = base + ((index * 7919) % 3600) * 1000; // a permutation of the hour's seconds
      lines.push(JSON.stringify({ id: index + 1, created_at: new Date(at).toISOString().replace('.000', ''), action: index % 3 ? 'approved' : 'blocked', package_type: 'npm', package_name: `pkg-${index % 17}`, package_version: '1.0.0', curated_repository_name: 'npm-remote', username: 'ci', policies: null }));
    }
    lines.splice(10, 0, '{"id": broken');
    lines.splice(20, 0, JSON.stringify({ id: 5000, action: 'approved', package_name: 'no-time' }));
    const partKey = `${folder}part-20261105T000000Z-000000000000.ndjson.gz`;
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: partKey, Body: gzipSync(`${lines.join('\n')}\n`) }));
    const manifest = {
      version: 2, generation: 1, source: 'xray', tenant: 'shuffled', filtersId: 'all', filters: {}, format: 'ndjson.gz',
      window: { start: '2026-11-05T00:00:00.000Z', end: '2026-11-05T01:00:00.000Z' },
      objects: [{ key: partKey, bytes: 0, records: lines.length, sha256: '0'.repeat(64) }], records: lines.length, bytes: 0, completedAt: new Date().toISOString(),
    };
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: `${folder}${MANIFEST_NAME}`, Body: JSON.stringify(manifest) }));
    const spillDirectory = await mkdtemp(path.join(os.tmpdir(), 'ocsf-spill-'));
    const result = await normalizeWindow(deps({ rowsPerGroup: 100, spillDirectory }), `${folder}${MANIFEST_NAME}`);
    expect(result).toMatchObject({ status: 'written', events: 1000, unmappable: 2, externalSort: true, rowGroups: 10 });
    expect(result.reasons).toEqual({ 'no created_at': 1, [Object.keys(result.reasons).find((reason) => reason.startsWith('broken JSON'))!]: 1 });
    const file = DuckDb.file(twin.s3.objectPath(result.key!));
    const [order] = await db.rows(`SELECT count(*)::INTEGER AS descending, count(DISTINCT metadata.uid)::INTEGER AS ids FROM (SELECT metadata, time < lag(time) OVER (ORDER BY file_row_number) AS down FROM ${file}) WHERE down IS NOT TRUE`);
    expect(order!.ids).toBe(1000);
    expect(order!.descending).toBe(1000); // every row kept, none after a later one
    const [groups] = await db.rows(`SELECT count(DISTINCT row_group_id)::INTEGER AS n FROM parquet_metadata('${twin.s3.objectPath(result.key!)}')`);
    expect(groups!.n).toBe(10);
    expect(await import('node:fs/promises').then((fs) => fs.readdir(spillDirectory))).toEqual([]); // spill files removed
    await rm(spillDirectory, { recursive: true, force: true });
  });

  it('a report that is not what its manifest says fails the window with the object named', async () => {
    const folder = 'source=mft/tenant=broken/filters=all/dt=2026-11-06/window=20261106T000000Z--20261106T010000Z/';
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: `${folder}report.json`, Body: '{"not":"an array"}' }));
    const manifest = { version: 1, source: 'mft', tenant: 'broken', filtersId: 'all', filters: {}, format: 'json', window: { start: '2026-11-06T00:00:00.000Z', end: '2026-11-06T01:00:00.000Z' }, objects: [{ key: `${folder}report.json`, bytes: 18, records: 1, sha256: '0'.repeat(64) }], records: 1, bytes: 18, completedAt: new Date().toISOString() };
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: `${folder}${MANIFEST_NAME}`, Body: JSON.stringify(manifest) }));
    await expect(normalizeWindow(deps(), `${folder}${MANIFEST_NAME}`)).rejects.toThrow(`Cannot read ${folder}report.json (json): The report is not a JSON array`);
  });
});

describe('the normalizer Lambda handler', () => {
  const handler = () => createNormalizeHandler(async () => deps({ inspect: undefined }), () => silentLogger);
  const event = (key: string, bucket = twin.s3.bucket) => ({ source: 'aws.s3', 'detail-type': 'Object Created', detail: { bucket: { name: bucket }, object: { key: encodeURIComponent(key).replace(/%2F/g, '/') } } });

  it('normalizes the window of a manifest event and ignores other objects', async () => {
    const key = [...results.keys()].find((candidate) => candidate.startsWith('source=mft/'))!;
    expect(await handler()(event(key))).toMatchObject({ status: 'written', manifestKey: key });
    expect(await handler()(event(key.replace(MANIFEST_NAME, 'report.json')))).toMatchObject({ status: 'ignored', reason: 'not a manifest' });
  });

  it('rejects an event that is not an S3 Object Created event, or one for another bucket', async () => {
    await expect(handler()({ detail: {} })).rejects.toThrow(/Invalid S3 Object Created event.*detail\.bucket/);
    await expect(handler()(event(`source=mft/x/${MANIFEST_NAME}`, 'other-bucket'))).rejects.toThrow('The event is for bucket other-bucket, the normalizer reads audit-export-twin');
  });
});

export type { OcsfEvent };
