/**
 * `audit-export verify` throughput: a range of windows holding ~1 GiB in the twin's local S3 (one manifest per
 * window, objects of random bytes), verified as the CLI does (every object read and hashed). Prints windows,
 * bytes, seconds, MiB/s and the process's peak RSS. Run: npm run bench:verify [-- --mib 1024 --windows 24]
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { writeManifest, type Manifest } from '../functions/common/manifest.js';
import { streamFolder, windowFolderIn } from '../functions/common/s3-layout.js';
import { makeWindow } from '../functions/common/time-window.js';
import { verifyRange } from '../functions/verifier/verify-range.js';
import { startTwin } from '../local/twin.js';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, windows: { type: 'string', default: '24' }, 'object-mib': { type: 'string', default: '16' } } });
const totalBytes = Number(values.mib) * 1024 * 1024;
const windows = Number(values.windows);
const objectBytes = Number(values['object-mib']) * 1024 * 1024;
const HOUR = 3_600_000;
const START = Date.parse('2026-11-01T00:00:00Z');

const directory = await mkdtemp(path.join(os.tmpdir(), 'bench-verify-'));
const twin = await startTwin({ directory, xray: false, persistLedger: false });
try {
  const folder = streamFolder({ source: 'xray', tenant: 'bench', filtersId: 'all', format: 'json' });
  const perWindow = Math.ceil(totalBytes / windows);
  const block = randomBytes(objectBytes);
  let written = 0;
  const writeStarted = Date.now();
  for (let index = 0; index < windows; index++) {
    const window = makeWindow(START + index * HOUR, START + (index + 1) * HOUR);
    const windowFolder = windowFolderIn(folder, window);
    const objects: Manifest['objects'] = [];
    for (let part = 0; written < totalBytes && part * objectBytes < perWindow; part++) {
      const body = block.subarray(0, Math.min(objectBytes, perWindow - part * objectBytes, totalBytes - written));
      body[0] = (index * 31 + part) & 0xff; // each object its own content
      const key = `${windowFolder}part-${String(part).padStart(4, '0')}.ndjson.gz`;
      await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: key, Body: body }));
      objects.push({ key, bytes: body.length, records: 1, sha256: createHash('sha256').update(body).digest('hex'), generation: 1 });
      written += body.length;
    }
    const records = objects.length;
    await writeManifest(twin.s3Client, twin.s3.bucket, windowFolder, {
      version: 2, source: 'xray', tenant: 'bench', filtersId: 'all', filters: {}, format: 'json', window, objects, records,
      bytes: objects.reduce((sum, object) => sum + object.bytes, 0), completedAt: new Date().toISOString(), generation: 1,
      vendorCount: records, events: records, supersedes: [], shortAnswer: false, shortAnswers: [],
    });
  }
  process.stderr.write(`wrote ${windows} windows, ${(written / 2 ** 20).toFixed(0)} MiB in ${((Date.now() - writeStarted) / 1000).toFixed(1)} s\n`);

  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  const started = process.hrtime.bigint();
  const { evidence } = await verifyRange(twin.s3Client, { stream: 'xray|bench|all|json', bucket: twin.s3.bucket, folder, gridMs: HOUR }, makeWindow(START, START + windows * HOUR), { nowMs: Date.now() });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  if (!evidence.complete) throw new Error(`the bench range did not verify: ${JSON.stringify(evidence.problems.slice(0, 3))}`);
  const mib = evidence.bytesHashed / 2 ** 20;
  console.log(`verify: ${evidence.windowsChecked} windows, ${evidence.objectsChecked} objects, ${mib.toFixed(0)} MiB hashed in ${seconds.toFixed(1)} s = ${(mib / seconds).toFixed(0)} MiB/s (local S3 on loopback), peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
} finally {
  await twin.close();
  await rm(directory, { recursive: true, force: true });
}
