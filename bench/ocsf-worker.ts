/**
 * One measured OCSF normalization, in a fresh process (bundled by bench/ocsf.ts, so it runs plain `node` as a
 * Lambda does): the task arrives on stdin, the result is the last JSON line of stdout.
 */
import { createS3Client } from '../functions/common/s3-writer.js';
import { normalizeWindow } from '../functions/ocsf/normalizer.js';
import { MemorySampler } from './lib/measure.js';
import type { ServersReady } from './lib/protocol.js';

export interface OcsfTask {
  servers: ServersReady;
  manifestKey: string;
  rowsPerGroup?: number;
}

let input = '';
for await (const chunk of process.stdin) input += String(chunk);
const task = JSON.parse(input) as OcsfTask;
const s3Server = task.servers.s3!;
const s3 = createS3Client({ endpoint: s3Server.endpoint, forcePathStyle: true, credentials: s3Server.credentials });
const memory = new MemorySampler();
const cpuBefore = process.cpuUsage();
const started = performance.now();
const result = await normalizeWindow(
  {
    s3,
    bucket: s3Server.bucket,
    region: 'us-east-1',
    accountId: '123456789012',
    destination: async (source) => ({ s3, bucket: s3Server.bucket, prefix: `ocsf/ext/${source.source}/` }),
    ...(task.rowsPerGroup ? { rowsPerGroup: task.rowsPerGroup } : {}),
  },
  task.manifestKey,
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const figures = memory.stop();
s3.destroy();
process.stdout.write(`${JSON.stringify({ result, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, memory: figures })}\n`);
