import path from 'node:path';
import { listFolder, MANIFEST_NAME } from '../functions/common/manifest.js';
import { normalizeWindow, type NormalizeResult } from '../functions/ocsf/normalizer.js';
import { DEFAULT_SOURCE_NAMES } from '../functions/ocsf/runtime.js';
import type { Twin } from '../local/twin.js';

/**
 * The OCSF step of the demo: every exported window on the twin normalized as the deployed normalizer does it (its
 * Parquet files in `ocsf/ext/<source name>/…` of the twin's bucket), then one SQL query over those files answered by
 * DuckDB, the embedded engine a security team would point at its lake.
 */

/** The partition values on the twin (AWS's documentation account; no account exists here). */
export const TWIN_OCSF_PARTITION = { region: 'us-east-1', accountId: '123456789012' };

export async function normalizeTwinExports(twin: Twin): Promise<NormalizeResult[]> {
  const deps = {
    s3: twin.s3Client,
    bucket: twin.s3.bucket,
    ...TWIN_OCSF_PARTITION,
    destination: async (source: { source: 'mft' | 'xray' }) => ({ s3: twin.s3Client, bucket: twin.s3.bucket, prefix: `ocsf/ext/${DEFAULT_SOURCE_NAMES[source.source]}/` }),
  };
  const results: NormalizeResult[] = [];
  for (const key of await listFolder(twin.s3Client, twin.s3.bucket, 'source=')) {
    if (key.endsWith(`/${MANIFEST_NAME}`)) results.push(await normalizeWindow(deps, key));
  }
  return results;
}

/** Blocked packages by curated repository, and MFT deletions by actor: one query over both sources' files. */
export function demoQuery(twin: Twin): string {
  // The local S3 server keeps each object as a file: <bucket folder>/<key>._S3rver_object.
  const bucketFolder = path.dirname(twin.s3.objectPath('x'));
  const files = (name: string) => `'${path.join(bucketFolder, 'ocsf', 'ext', name, '**', '*.parquet._S3rver_object').replaceAll("'", "''")}'`;
  return `
WITH blocked AS (
  SELECT 'Xray: blocked packages' AS question, r.name AS "repository / actor", count(*) AS events
  FROM read_parquet(${files(DEFAULT_SOURCE_NAMES.xray)}, hive_partitioning = false), unnest(web_resources) AS t(r)
  WHERE disposition_id = 2 AND r.type = 'curated repository' GROUP BY ALL),
deletions AS (
  SELECT 'MFT: deletions' AS question, actor.user.name AS "repository / actor", count(*) AS events
  FROM read_parquet(${files(DEFAULT_SOURCE_NAMES.mft)}, hive_partitioning = false)
  WHERE activity_id = 4 GROUP BY ALL)
SELECT * FROM (SELECT * FROM blocked UNION ALL SELECT * FROM deletions)
QUALIFY row_number() OVER (PARTITION BY question ORDER BY events DESC, "repository / actor") <= 5
ORDER BY question DESC, events DESC`;
}

/** Runs the query with DuckDB's Node API; returns the rows as text lines (a small table). */
export async function runDemoQuery(sql: string): Promise<string[]> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const rows = (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
    const columns = rows.length ? Object.keys(rows[0]!) : ['question', 'repository / actor', 'events'];
    const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => String(row[column]).length)));
    const line = (values: string[]) => values.map((value, index) => value.padEnd(widths[index]!)).join('  ').trimEnd();
    return [line(columns), line(widths.map((width) => '-'.repeat(width))), ...rows.map((row) => line(columns.map((column) => String(row[column]))))];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
