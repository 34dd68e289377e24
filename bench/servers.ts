/**
 * The twin's servers, in a process of their own so that the benchmark measures the memory and CPU of
 * the process running the handlers only. Started by bench/run.ts as
 *
 *   node --import tsx bench/servers.ts '<json options>'
 *
 * with `{"role":"emulators", ...}` (the Xray and/or MFT emulator) or `{"role":"s3", ...}` (s3rver).
 * It prints its endpoints as one JSON line on stdout, then serves until stdin closes (or SIGTERM), and
 * prints one last JSON line with its own CPU time and peak RSS before it exits. While it serves, a line
 * `cpu` on stdin is answered with the process's CPU time so far (user + system seconds), as `{"cpuSeconds": n}`;
 * `xray-requests` on stdin is answered with the Xray emulator's requests since the previous such line
 * (method, path, query, status), so that the bare pull can replay exactly the pages the export fetched.
 */
import { createInterface } from 'node:readline';
import { startMftEmulator, type MftEmulatorOptions } from '../emulators/mft/index.js';
import { startXrayEmulator, type XrayEmulatorOptions } from '../emulators/xray/index.js';
import { startLocalS3 } from '../local/s3-server.js';
import type { ServersReady, XrayRequest } from './lib/protocol.js';

interface ServersOptions {
  role: 'emulators' | 's3';
  /** role s3: where s3rver keeps its files (a temporary directory the caller deletes). */
  directory?: string;
  bucket?: string;
  xray?: XrayEmulatorOptions;
  mft?: MftEmulatorOptions;
}

const options = JSON.parse(process.argv[2] ?? '{}') as ServersOptions;
const closers: (() => Promise<void>)[] = [];
const ready: ServersReady = {};
let xrayLog: { method: string; path: string; query: string; status: number }[] | undefined;

if (options.role === 's3') {
  if (!options.directory || !options.bucket) throw new Error('role s3 needs directory and bucket');
  const s3 = await startLocalS3({ directory: options.directory, bucket: options.bucket });
  closers.push(() => s3.close());
  ready.s3 = { endpoint: s3.endpoint, bucket: s3.bucket, credentials: s3.credentials };
} else {
  if (options.xray) {
    const xray = await startXrayEmulator(options.xray);
    closers.push(() => xray.close());
    xrayLog = xray.requestLog;
    ready.xray = { baseUrl: xray.baseUrl, accessToken: xray.admin.accessToken };
  }
  if (options.mft) {
    const mft = await startMftEmulator(options.mft);
    closers.push(() => mft.close());
    ready.mft = {
      baseUrl: mft.baseUrl,
      tokenUrl: mft.tokenUrl,
      downloadBaseUrl: mft.downloadBaseUrl,
      tenantId: mft.tenantId,
      kid: mft.kid,
      privateKeyPem: mft.privateKeyPem,
    };
  }
}
process.stdout.write(`${JSON.stringify({ ready })}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled(closers.reverse().map((close) => close()));
  const usage = process.resourceUsage();
  const stats = { cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, maxRssBytes: usage.maxRSS * 1024 };
  process.stdout.write(`${JSON.stringify({ stats })}\n`, () => process.exit(0));
}
const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  if (line.trim() === 'xray-requests') {
    // Taken out of the log, so the next answer holds only what came after (the log keeps its latest 50,000).
    const fresh = xrayLog ? xrayLog.splice(0, xrayLog.length) : [];
    const xrayRequests: XrayRequest[] = fresh.map(({ method, path, query, status }) => ({ method, path, query, status }));
    process.stdout.write(`${JSON.stringify({ xrayRequests })}\n`);
  } else if (line.trim() === 'cpu') {
    const usage = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ cpuSeconds: (usage.user + usage.system) / 1e6 })}\n`);
  }
});
commands.on('close', () => void stop());
process.on('SIGTERM', () => void stop());
