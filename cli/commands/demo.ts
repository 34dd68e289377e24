import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../../functions/common/clock.js';
import { sourceOfStream } from '../../functions/common/checkpoints.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { formatBytes } from '../progress.js';
import { formatStatus, readStatus } from '../status-view.js';
import { listTwinObjects } from '../twin-objects.js';
import { demoQuery, normalizeTwinExports, runDemoQuery } from '../ocsf-query.js';
import { DEFAULT_INSTANCE } from '../instances.js';
import { runOnTarget, type RunSummary } from '../run-target.js';
import { EXIT_FAILED, EXIT_OK, createOutput, parseCommandArgs, type Output } from '../usage.js';

/** The demo runs the twin's one instance of each source, whatever instances the environment names. */
const THE_TWIN_INSTANCE = { name: DEFAULT_INSTANCE, env: process.env };

export const DEMO_HELP = `Usage: audit-export demo [--twin-dir DIR] [--json]

The main job on the local twin (what \`npm start\` runs): starts both vendor emulators and a local
S3 server, exports MFT audit logs and Xray curation events through the real state machines and Lambda
handlers, and shows where the files landed and how to look at them; then normalizes every exported
window to OCSF 1.1 Parquet (as the opt-in normalizer does) and answers one SQL query over those files
with DuckDB.

The twin remembers: its directory keeps the S3 objects, the checkpoint table and the emulators' seed, so
the first run exports the last 24 hours and every later one continues from the checkpoints (only the
windows that ended since, plus Xray's re-scan overlap), as the deployed schedule does; it ends by
showing what changed since the previous run. A new directory starts empty.

Options:
  --twin-dir DIR   where the twin keeps its files (default .twin)
  --json           progress on stderr; the last stdout line is a JSON summary of both runs
  -h, --help       this help

Examples:
  npm start
  npx audit-export demo --twin-dir /tmp/audit-twin --json | tail -n 1`;

export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { 'twin-dir': { type: 'string' }, json: { type: 'boolean' } }, 'demo');
  if (values.help) {
    process.stdout.write(`${DEMO_HELP}\n`);
    return EXIT_OK;
  }
  const output = createOutput(values.json ?? false);
  const { summaries, normalized, changes } = await runDemo({ directory: path.resolve(values['twin-dir'] ?? '.twin'), output });
  if (output.json) {
    const ocsf = normalized.filter((result) => result.status === 'written').map(({ key, events, unmappable }) => ({ key, events, unmappable }));
    output.result({ runs: summaries, ocsf, changes });
  }
  return summaries.every((summary) => summary.status === 'SUCCEEDED') ? EXIT_OK : EXIT_FAILED;
}

/** What one stream of the twin holds: its checkpoint and its windows with a manifest. */
export interface StreamChange {
  stream: string;
  checkpointBefore: string | null;
  checkpointAfter: string | null;
  windowsBefore: number;
  windowsAfter: number;
  /** Windows whose manifest this run wrote (new ones, and re-scanned ones that gained events). */
  windowsWritten: number;
}

export interface DemoResult {
  summaries: RunSummary[];
  normalized: Awaited<ReturnType<typeof normalizeTwinExports>>;
  /** null on the first run in the directory. */
  previousRunAt: string | null;
  changes: StreamChange[];
}

/** The demo on a twin directory; a test gives it a clock to run it twice, hours apart. */
export async function runDemo(options: { directory: string; output: Output; clock?: Clock }): Promise<DemoResult> {
  const { directory, output } = options;
  const shown = path.relative(process.cwd(), directory) || '.';
  output.info(`audit-export on the local twin (data under ${shown}/)`);
  // The Xray emulator's dataset: 50,000 events per 30 days, so the last 24 hours hold a few thousand.
  const twin = await startTwin({ directory, xray: { events: 50_000 }, mft: { reportReadyAfterMs: 500 }, ...(options.clock ? { clock: options.clock } : {}) });
  const summaries: RunSummary[] = [];
  let normalized: Awaited<ReturnType<typeof normalizeTwinExports>> = [];
  let changes: StreamChange[] = [];
  let previousRunAt: string | null = null;
  try {
    const before = await streamsOf(twin);
    previousRunAt = before.lastRunAt;
    const what = previousRunAt ? `since the previous run (${previousRunAt}), continuing from the checkpoints` : 'last 24 hours (first run in this directory)';
    output.info(`MFT emulator ${twin.mft.baseUrl} · Xray emulator ${twin.xray!.baseUrl} · local S3 ${twin.s3.endpoint} (bucket ${twin.s3.bucket})`);
    output.info(`\n— Progress Automate MFT audit logs, ${what} —`);
    summaries.push(await runOnTarget({ source: 'mft', target: 'twin', twin, input: { type: 'json' }, output, instance: THE_TWIN_INSTANCE }));
    output.info(`\n— JFrog Xray Curation audit events, ${what} —`);
    summaries.push(await runOnTarget({ source: 'xray', target: 'twin', twin, input: { format: 'json' }, output, instance: THE_TWIN_INSTANCE }));

    output.info('\n— Checkpoints (audit-export status) —');
    for (const line of formatStatus(await readStatus(twin.ledger, twin.clock.now()))) output.info(line);
    changes = changesBetween(before, await streamsOf(twin));
    output.info('\n— Where the files are —');
    for (const summary of summaries) {
      if (summary.status !== 'SUCCEEDED') output.info(`${summary.source}: FAILED ${summary.error}: ${summary.cause}`);
    }
    const objects = await listTwinObjects(twin);
    for (const source of ['mft', 'xray']) {
      const mine = objects.filter((object) => object.key.startsWith(`source=${source}/`));
      const manifests = mine.filter((object) => object.key.endsWith('_manifest.json'));
      const data = mine.filter((object) => !object.key.endsWith('_manifest.json'));
      const bytes = data.reduce((sum, object) => sum + object.bytes, 0);
      output.info(`s3://${twin.s3.bucket}/source=${source}/…  ${manifests.length} windows (one manifest each), ${data.length} data objects, ${formatBytes(bytes)}`);
    }
    const report = objects.find((object) => object.key.endsWith('/report.json'));
    const part = objects.find((object) => object.key.endsWith('.ndjson.gz'));
    const manifest = objects.find((object) => object.key.endsWith('_manifest.json'));
    output.info(`\nThe local S3 server keeps each object as a file: ${shown}/s3/${twin.s3.bucket}/<key>._S3rver_object`);
    if (report) {
      const file = path.relative(process.cwd(), twin.s3.objectPath(report.key));
      output.info(`  an MFT report (JSON array):      head -c 600 '${file}'`);
      output.info(`    ${await preview(twin.s3.objectPath(report.key))}`);
    }
    if (part) {
      const file = path.relative(process.cwd(), twin.s3.objectPath(part.key));
      output.info(`  Xray events (gzip NDJSON):       zcat '${file}' | head -n 2`);
    }
    if (manifest) {
      const file = path.relative(process.cwd(), twin.s3.objectPath(manifest.key));
      output.info(`  a window's manifest (written last): cat '${file}'`);
    }
    output.info(`  everything:                      find ${shown}/s3 -name '*._S3rver_object'`);
    output.info(`  the Lambdas' JSON logs and EMF metrics: ${path.relative(process.cwd(), twin.logFile)}`);
    output.info('\nNext: npx audit-export run mft --help · npx audit-export run xray --help · README.md');
    output.info('\n— OCSF 1.1 in Parquet (what the opt-in normalizer writes for Security Lake or Athena) —');
    normalized = await normalizeTwinExports(twin);
    const written = normalized.filter((result) => result.status === 'written');
    const unmappable = normalized.reduce((sum, result) => sum + result.unmappable, 0);
    output.info(`${written.length} windows → ${written.reduce((sum, result) => sum + result.events, 0)} OCSF events in ${written.length} Parquet files (${unmappable} records not mapped): s3://${twin.s3.bucket}/ocsf/ext/<source>/region=…/accountId=…/eventDay=…/`);
    const sql = demoQuery(twin);
    output.info(`\nOne SQL query over them (DuckDB):${sql.replaceAll(path.dirname(twin.s3.objectPath('x')), `${shown}/s3/${twin.s3.bucket}`)}\n`);
    for (const line of await runDemoQuery(sql)) output.info(`  ${line}`);

    output.info(`\n— What changed ${previousRunAt ? `since the previous run (${previousRunAt})` : 'in this new twin directory'} —`);
    for (const line of formatChanges(changes)) output.info(line);
    output.info(`Run \`npm start\` again later to export what is new; \`npx audit-export status\` · \`npx audit-export verify xray --start … --end …\``);
  } finally {
    await twin.close();
  }
  return { summaries, normalized, previousRunAt, changes };
}

interface TwinStreams {
  lastRunAt: string | null;
  streams: Map<string, { checkpoint: string | null; manifests: Map<string, string> }>;
}

/** Each stream's checkpoint and its manifests (key → ETag), and when the last run finished. */
async function streamsOf(twin: Twin): Promise<TwinStreams> {
  const streams: TwinStreams['streams'] = new Map();
  let lastRunAt: string | null = null;
  for (const checkpoint of await twin.ledger.checkpoints()) {
    streams.set(checkpoint.stream, { checkpoint: checkpoint.watermark ?? null, manifests: new Map() });
    for (const run of await twin.ledger.recentRuns(checkpoint.stream, 1)) if (!lastRunAt || run.finishedAt > lastRunAt) lastRunAt = run.finishedAt;
  }
  for (const object of await listTwinObjects(twin)) {
    if (!object.key.endsWith('/_manifest.json')) continue;
    const stream = [...streams.keys()].find((name) => object.key.startsWith(`source=${sourceOfStream(name)}/`) && streamFolderMatches(name, object.key));
    if (stream) streams.get(stream)!.manifests.set(object.key, object.etag ?? '');
  }
  return { lastRunAt, streams };
}

/** A stream key (`source|tenant|filters|format`) names the folder `source=…/tenant=…/filters=…[-csv]/`. */
function streamFolderMatches(stream: string, key: string): boolean {
  const [source, tenant, filters, format] = stream.split('|');
  return key.startsWith(`source=${source}/tenant=${tenant}/filters=${format === 'json' ? filters : `${filters}-${format}`}/`);
}

function changesBetween(before: TwinStreams, after: TwinStreams): StreamChange[] {
  return [...after.streams].map(([stream, now]) => {
    const was = before.streams.get(stream);
    const written = [...now.manifests].filter(([key, etag]) => was?.manifests.get(key) !== etag).length;
    return {
      stream,
      checkpointBefore: was?.checkpoint ?? null,
      checkpointAfter: now.checkpoint,
      windowsBefore: was?.manifests.size ?? 0,
      windowsAfter: now.manifests.size,
      windowsWritten: written,
    };
  });
}

export function formatChanges(changes: StreamChange[]): string[] {
  return changes.map((change) => {
    const added = change.windowsAfter - change.windowsBefore;
    const rewritten = change.windowsWritten - added;
    const moved = change.checkpointBefore === change.checkpointAfter ? `checkpoint stays at ${change.checkpointAfter ?? '—'}` : `checkpoint ${change.checkpointBefore ?? '(none)'} → ${change.checkpointAfter ?? '—'}`;
    return `${change.stream}: ${moved}; ${added} new window(s)${rewritten > 0 ? `, ${rewritten} re-scanned window(s) that gained events` : ''}, ${change.windowsAfter} in all`;
  });
}

async function preview(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(150);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return `${buffer.subarray(0, bytesRead).toString('utf8').replace(/\s+/g, ' ')}…`;
  } finally {
    await handle.close();
  }
}
