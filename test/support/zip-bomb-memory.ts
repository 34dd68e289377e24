import { deflateRawSync, constants } from 'node:zlib';
import { readZip } from '../../functions/common/zip.js';
import { buildZip } from './zip.js';

/**
 * Run in a fresh process (`node --import tsx test/support/zip-bomb-memory.ts MIB DECLARED`): builds a zip whose
 * entry declares DECLARED bytes and would inflate to MIB MiB of zeros, reads it, and prints one JSON line with
 * the outcome and how much the process's peak RSS grew while reading (a fresh process: nothing before hides it).
 */
const [mebibytes = 1536, declared = 200] = process.argv.slice(2).map(Number);
const block = deflateRawSync(Buffer.alloc(1024 * 1024), { finishFlush: constants.Z_SYNC_FLUSH, level: 9 });
const body = Buffer.concat([...Array(mebibytes).fill(block), deflateRawSync(Buffer.alloc(0))]);
const zip = buildZip([{ name: 'audit_packages.csv', data: Buffer.alloc(0), deflate: true, body, size: declared }]);
const before = process.resourceUsage().maxRSS;
const started = performance.now();
let error = '';
try {
  readZip(zip, 'Xray CSV page', { maxBytes: 384 * 1024 * 1024 });
} catch (caught) {
  error = `${(caught as Error).name}: ${(caught as Error).message}`;
}
process.stdout.write(
  `${JSON.stringify({ zipBytes: zip.length, inflatesTo: mebibytes * 1048576, declared, error, ms: performance.now() - started, peakGrowthKiB: process.resourceUsage().maxRSS - before, peakKiB: process.resourceUsage().maxRSS })}\n`,
);
