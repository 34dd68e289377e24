import { open } from 'node:fs/promises';
import path from 'node:path';
import { runMftExport } from '../../local/run-export.js';
import { startTwin } from '../../local/twin.js';
import { MFT_STEPS, MFT_TRANSIENT, createProgress, formatBytes } from '../progress.js';
import { EXIT_FAILED, EXIT_OK, createOutput, parseCommandArgs } from '../usage.js';
import { summarize, type RunSummary } from './run-mft.js';

export const DEMO_HELP = `Usage: audit-export demo [--twin-dir DIR] [--json]

The main job on the local twin (what \`npm start\` runs): starts the vendor emulators and a local
S3 server, exports the last 24 hours of audit logs through the real state machines and Lambda
handlers, and shows where the files landed and how to look at them.`;

export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { 'twin-dir': { type: 'string' }, json: { type: 'boolean' } }, 'demo');
  if (values.help) {
    process.stdout.write(`${DEMO_HELP}\n`);
    return EXIT_OK;
  }
  const output = createOutput(values.json ?? false);
  const stream = output.json ? process.stderr : process.stdout;
  const directory = path.resolve(values['twin-dir'] ?? '.twin');
  output.info(`audit-export on the local twin (data under ${path.relative(process.cwd(), directory) || '.'})`);
  const twin = await startTwin({ directory, xray: false });
  const summaries: RunSummary[] = [];
  try {
    output.info(`MFT emulator ${twin.mft.baseUrl}, local S3 ${twin.s3.endpoint}, bucket ${twin.s3.bucket}`);
    output.info('\n— MFT audit logs, last 24 hours —');
    const started = Date.now();
    const result = await runMftExport(twin.mftRuntime(), {
      input: { type: 'json' },
      waitMs: twin.waitMs,
      retryMs: twin.retryMs,
      onEvent: createProgress({ write: (text) => stream.write(text), isTTY: Boolean(stream.isTTY), steps: MFT_STEPS, transient: MFT_TRANSIENT }),
    });
    summaries.push(summarize('mft', 'twin', result, Date.now() - started));

    output.info('\n— Where the files are —');
    for (const summary of summaries) {
      if (summary.status !== 'SUCCEEDED') {
        output.info(`${summary.source}: FAILED ${summary.error}: ${summary.cause}`);
        continue;
      }
      for (const object of summary.objects) {
        const file = path.relative(process.cwd(), twin.s3.objectPath(object.key));
        output.info(`s3://${object.bucket}/${object.key}  (${formatBytes(object.bytes)}, sha256 ${object.sha256?.slice(0, 12)}…)`);
        output.info(`  on disk: ${file}`);
        output.info(`  look:    head -c 600 '${file}'`);
        output.info(`  first bytes: ${await preview(twin.s3.objectPath(object.key))}`);
      }
    }
    output.info(`\nAll exported objects: find ${path.relative(process.cwd(), twin.s3.directory) || '.'} -name '*._S3rver_object'`);
    output.info('Run one export yourself: npx audit-export run mft --help');
  } finally {
    await twin.close();
  }
  if (output.json) output.result({ runs: summaries });
  return summaries.every((summary) => summary.status === 'SUCCEEDED') ? EXIT_OK : EXIT_FAILED;
}

async function preview(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(160);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return `${buffer.subarray(0, bytesRead).toString('utf8').replace(/\s+/g, ' ')}…`;
  } finally {
    await handle.close();
  }
}
