import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { checkManifest, manifestKey, manifestWindows, type ManifestVerification } from '../common/manifest.js';
import { windowFolderIn } from '../common/s3-layout.js';
import { makeWindow, type TimeWindow } from '../common/time-window.js';
import { gridWindows } from '../common/window-grid.js';

/**
 * Proves a range of one export stream complete: every grid window of the range has its manifest, every object
 * the manifest lists is there with its size and SHA-256, the records add up, and the window holds at least what
 * the vendor counted. One core for the CLI (`audit-export verify`) and the scheduled verifier Lambda; each
 * window is checked with `checkManifest`, the check the example consumer runs.
 */

/** One export stream: where its windows are and how time is cut. */
export interface VerifiedStream {
  /** The stream key (`source|tenant|filters|format`), as `audit-export status` shows it. */
  stream: string;
  bucket: string;
  /** The stream's folder (`…source=…/tenant=…/filters=…/`). */
  folder: string;
  gridMs: number;
  /** How long the vendor keeps events (undefined: no known limit): a missing window older than this is lost. */
  retentionMs?: number;
}

/** `complete`, or why not: no manifest (`missing`, or `beyond-retention` when the vendor no longer has it), objects that do not match (`incomplete`), fewer events than the vendor counted (`short`). */
export type WindowState = 'complete' | 'missing' | 'beyond-retention' | 'incomplete' | 'short';

export interface WindowVerdict {
  window: TimeWindow;
  state: WindowState;
  manifestKey: string;
  problems: string[];
  manifestSha256?: string;
  generation?: number;
  records?: number;
  /** Events stored (Xray; MFT: records). */
  events?: number;
  vendorCount?: number | null;
  hashed: boolean;
  bytesHashed: number;
  objectsChecked: number;
}

/** The evidence an auditor keeps (`audit-export verify --json`). */
export interface RangeEvidence {
  stream: string;
  bucket: string;
  folder: string;
  range: TimeWindow;
  gridMinutes: number;
  checkedAt: string;
  windowsChecked: number;
  windowsComplete: number;
  objectsChecked: number;
  bytesHashed: number;
  records: number;
  /** Windows of the range not over yet at `checkedAt`: not expected, not checked. */
  notOverYet: TimeWindow | null;
  /** Every window that is not complete, by name. */
  problems: { window: TimeWindow; state: WindowState; manifestKey: string; problems: string[] }[];
  /** SHA-256 over the list of manifests (`<key> <sha256 of its bytes>` lines, in window order). */
  manifestsSha256: string;
  complete: boolean;
}

export interface VerifyRangeOptions {
  nowMs: number;
  /** Hash a window's objects (default: always); the verifier Lambda hashes a window once per manifest. */
  hash?: (window: TimeWindow, manifestSha256: string) => boolean;
  /** Windows checked at once (default 4). */
  concurrency?: number;
  onProgress?: (progress: { done: number; total: number; bytesHashed: number }) => void;
  /** At most this many windows in one verification (default 100,000, over 11 years of hours). */
  maxWindows?: number;
}

export async function verifyRange(
  s3: S3Client,
  stream: VerifiedStream,
  range: TimeWindow,
  options: VerifyRangeOptions,
): Promise<{ evidence: RangeEvidence; windows: WindowVerdict[] }> {
  const all = gridWindows(range, stream.gridMs, options.maxWindows ?? 100_000);
  const due = all.filter((window) => Date.parse(window.end) <= options.nowMs);
  const notOverYet = due.length < all.length ? makeWindow(Date.parse(all[due.length]!.start), Date.parse(all.at(-1)!.end)) : null;
  const widened = all.length ? { start: all[0]!.start, end: all.at(-1)!.end } : range;
  // One listing finds the windows with a manifest; only those are read.
  const withManifest = new Set(due.length ? (await manifestWindows(s3, stream.bucket, stream.folder, widened)).map((window) => window.start) : []);
  const verdicts: WindowVerdict[] = new Array(due.length);
  let done = 0;
  let bytesHashed = 0;
  let next = 0;
  const worker = async () => {
    while (next < due.length) {
      const at = next++;
      const window = due[at]!;
      verdicts[at] = await verifyWindow(s3, stream, window, withManifest.has(window.start), options);
      bytesHashed += verdicts[at]!.bytesHashed;
      options.onProgress?.({ done: ++done, total: due.length, bytesHashed });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));

  const digest = createHash('sha256');
  for (const verdict of verdicts) if (verdict.manifestSha256) digest.update(`${verdict.manifestKey} ${verdict.manifestSha256}\n`);
  const problems = verdicts
    .filter((verdict) => verdict.state !== 'complete')
    .map(({ window, state, manifestKey, problems }) => ({ window, state, manifestKey, problems }));
  const evidence: RangeEvidence = {
    stream: stream.stream,
    bucket: stream.bucket,
    folder: stream.folder,
    range: widened,
    gridMinutes: stream.gridMs / 60_000,
    checkedAt: new Date(options.nowMs).toISOString(),
    windowsChecked: verdicts.length,
    windowsComplete: verdicts.length - problems.length,
    objectsChecked: verdicts.reduce((sum, verdict) => sum + verdict.objectsChecked, 0),
    bytesHashed,
    records: verdicts.reduce((sum, verdict) => sum + (verdict.records ?? 0), 0),
    notOverYet,
    problems,
    manifestsSha256: digest.digest('hex'),
    complete: problems.length === 0 && verdicts.length > 0,
  };
  return { evidence, windows: verdicts };
}

async function verifyWindow(s3: S3Client, stream: VerifiedStream, window: TimeWindow, listed: boolean, options: VerifyRangeOptions): Promise<WindowVerdict> {
  const key = manifestKey(windowFolderIn(stream.folder, window));
  const base = { window, manifestKey: key, hashed: false, bytesHashed: 0, objectsChecked: 0 };
  if (!listed) {
    const lost = stream.retentionMs !== undefined && Date.parse(window.start) < options.nowMs - stream.retentionMs;
    return lost
      ? { ...base, state: 'beyond-retention', problems: ['no manifest, and the vendor no longer keeps this window: its events are lost'] }
      : { ...base, state: 'missing', problems: ['no manifest: the window was never exported (or its manifest was removed)'] };
  }
  const check: ManifestVerification = await checkManifest(s3, stream.bucket, key, {
    hash: (manifestSha256) => options.hash?.(window, manifestSha256) ?? true,
  });
  const verdict: WindowVerdict = {
    ...base,
    state: check.ok ? 'complete' : check.missing ? 'missing' : check.short && check.problems.length === 1 ? 'short' : 'incomplete',
    problems: check.problems,
    hashed: check.hashed,
    bytesHashed: check.bytesHashed,
    objectsChecked: check.objectsChecked,
  };
  if (check.manifestSha256) verdict.manifestSha256 = check.manifestSha256;
  if (check.manifest) {
    verdict.generation = check.manifest.generation;
    verdict.records = check.manifest.records;
    verdict.events = check.manifest.events ?? check.manifest.records;
    verdict.vendorCount = check.manifest.vendorCount;
  }
  return verdict;
}
