import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyManifest } from '../../functions/common/manifest.js';
import { AuditTimeline } from '../../emulators/mft/index.js';
import { runMftExport, runXrayExport } from '../../local/run-export.js';
import type { LocalRunResult } from '../../local/state-machine-runner.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { DrivenClock } from '../support/driven-clock.js';
import { compareIds, currentEventIds, listKeys, unnamedObjects } from '../support/stored-events.js';

/**
 * Two MFT tenants and two Xray platforms, each an instance of its source with its own emulator, run their
 * scheduled exports of the same hours at the same time into one bucket and one checkpoint table: every stream
 * holds exactly its own vendor's events, no object key is written by two instances, each has its own checkpoint.
 */

const MFT = ['us', 'eu'];
const XRAY = ['saas', 'on-prem'];
const EVENTS_PER_HOUR = 120;
const WINDOW = { start: '2026-09-07T07:00:00Z', end: '2026-09-07T09:00:00Z' };

let twin: Twin;
let directory: string;
const results: Record<string, LocalRunResult> = {};

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'instances-'));
  const clock = new DrivenClock(Date.parse('2026-09-07T10:05:00Z'));
  twin = await startTwin({
    directory,
    clock,
    instances: { mft: MFT, xray: XRAY },
    mft: { reportReadyAfterMs: 0, eventsPerHour: EVENTS_PER_HOUR },
    xray: { events: 3_000, datasetStart: WINDOW.start, datasetEnd: WINDOW.end },
  });
  const schedule = { lagMinutes: 15, initialLookbackHours: 2 };
  const local = { input: {}, waitMs: 0, retryMs: 5 };
  // Side by side: all four scheduled runs at once.
  const runs = [
    ...MFT.map(async (name) => [`mft ${name}`, await runMftExport(twin.mftRuntime({ ...schedule, pollIntervalSeconds: 1 }, name), local)] as const),
    ...XRAY.map(async (name) => [`xray ${name}`, await runXrayExport(twin.xrayRuntime(schedule, name), local)] as const),
  ];
  for (const [name, result] of await Promise.all(runs)) results[name] = result;
}, 120_000);

afterAll(async () => {
  await twin?.close();
  if (directory) await rm(directory, { recursive: true, force: true });
});

const folderOf = (source: string, tenant: string) => `source=${source}/tenant=${tenant}/`;
const mftTenant = (name: string) => twin.mftInstances.find((instance) => instance.name === name)!.emulator.tenantId;
const xrayTenant = (name: string) => `xray-twin-${name}`;

describe('two instances of each source on the twin', () => {
  it('every run succeeded and moved its own checkpoint', async () => {
    for (const [name, result] of Object.entries(results)) expect(result.status, `${name}: ${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const checkpoints = (await twin.ledger.checkpoints()).map((checkpoint) => [checkpoint.stream, checkpoint.watermark]).sort();
    expect(checkpoints).toEqual(
      [
        ...MFT.map((name) => [`mft|${mftTenant(name)}|all|json`, '2026-09-07T09:00:00.000Z']),
        ...XRAY.map((name) => [`xray|${xrayTenant(name)}|all|json`, '2026-09-07T09:00:00.000Z']),
      ].sort(),
    );
  });

  it('each stream holds exactly its own emulator’s events, none lost, none twice', async () => {
    const bucket = twin.s3.bucket;
    const truths: string[][] = [];
    for (const [index, name] of MFT.entries()) {
      // The twin seeds each MFT instance's timeline with its position: the ground truth of that tenant.
      const timeline = new AuditTimeline(1 + index, EVENTS_PER_HOUR);
      const [first, last] = timeline.indexRange(Date.parse(WINDOW.start), Date.parse(WINDOW.end));
      const truth = Array.from({ length: last - first }, (_, i) => timeline.event(first + i).id);
      truths.push(truth);
      const figures = compareIds(truth, (await currentEventIds(twin.s3Client, bucket, folderOf('mft', mftTenant(name)))) as string[]);
      expect(figures.stored, name).toBe(truth.length);
      expect([figures.lost, figures.duplicated, figures.extra], name).toEqual([[], [], []]);
    }
    // Two tenants, two different sets of events: the comparison above could not pass by reading one for the other.
    expect(truths[0]!.some((id) => truths[1]!.includes(id))).toBe(false);
    for (const { name, emulator } of twin.xrayInstances) {
      const truth = emulator.eventIds(WINDOW);
      expect(truth.length, name).toBeGreaterThan(0);
      const figures = compareIds(truth, (await currentEventIds(twin.s3Client, bucket, folderOf('xray', xrayTenant(name)))) as number[]);
      expect([figures.stored, figures.lost, figures.duplicated, figures.extra], name).toEqual([truth.length, [], [], []]);
    }
  });

  it('no object key is shared: every key lies in exactly one instance’s folder, every folder verifies', async () => {
    const bucket = twin.s3.bucket;
    const all = await listKeys(twin.s3Client, bucket, 'source=');
    const folders = [...MFT.map((name) => folderOf('mft', mftTenant(name))), ...XRAY.map((name) => folderOf('xray', xrayTenant(name)))];
    const owners = all.map((key) => folders.filter((folder) => key.startsWith(folder)).length);
    expect(owners.every((count) => count === 1)).toBe(true);
    for (const folder of folders) {
      const keys = all.filter((key) => key.startsWith(folder));
      // Two hourly windows each: a manifest and at least one object.
      expect(keys.filter((key) => key.endsWith('/_manifest.json')), folder).toHaveLength(2);
      for (const key of keys.filter((k) => k.endsWith('/_manifest.json'))) expect(await verifyManifest(twin.s3Client, bucket, key), key).toEqual({ ok: true, problems: [] });
      expect(await unnamedObjects(twin.s3Client, bucket, folder)).toEqual([]);
    }
  });
});
