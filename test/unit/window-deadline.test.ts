import { describe, expect, it } from 'vitest';
import { commitRun } from '../../functions/common/run-plan.js';
import { MFT_WINDOW_CONCURRENCY, MIN_WINDOW_START_BUDGET_MS, planFor, planMftRun, windowStartDeadline } from '../../functions/mft/export-plan.js';
import { mftExportInputSchema } from '../../functions/mft/model.js';
import { mftSchedule, type MftRuntime } from '../../functions/mft/runtime.js';
import { windowDeferral } from '../../functions/mft/steps.js';

/** When a scheduled MFT run stops starting windows, and what CommitRun makes of the windows it deferred. */

const settings = {
  bucket: 'b',
  tenantId: 't',
  pollIntervalSeconds: 15,
  maxWaitSeconds: 900,
  schedule: mftSchedule({ windowMinutes: 60, lagMinutes: 15, initialLookbackHours: 24, maxWindows: 48 }),
};
const now = Date.parse('2026-12-01T10:00:00Z');

describe('the window start deadline of a scheduled MFT run', () => {
  it('is the 2-hour timeout less what the last window may still take (its wait, a copy, the commit)', () => {
    const plan = planFor(mftExportInputSchema.parse({}), settings);
    // 7200 s − (900 s wait + 15 s poll) − 1200 s copy reserve.
    expect(windowStartDeadline(now, plan, settings) - now).toBe(5_085_000);
  });

  it('always leaves the first windows a minute to start, however long the waits', () => {
    const plan = planFor(mftExportInputSchema.parse({ maxWaitSeconds: 86_400 }), settings);
    expect(windowStartDeadline(now, plan, settings) - now).toBe(MIN_WINDOW_START_BUDGET_MS);
  });
});

describe('which windows a scheduled MFT run defers', () => {
  it('past the deadline, every window but those of the first Map round: each run makes progress, however slow the steps before', async () => {
    const { plan, windows, run } = await planMftRun(mftExportInputSchema.parse({}), settings, undefined, 'e', now);
    expect(run.mode).toBe('scheduled');
    expect(windows.length).toBeGreaterThan(MFT_WINDOW_CONCURRENCY);
    expect(plan.deadlineFrom).toBe(windows[MFT_WINDOW_CONCURRENCY]!.start);
    const at = (ms: number) => ({ clock: { now: () => ms } }) as unknown as MftRuntime;
    const late = Date.parse(plan.deadline!) + 1;
    const deferred = windows.map((window) => windowDeferral(at(late), plan, window) !== undefined);
    expect(deferred.slice(0, MFT_WINDOW_CONCURRENCY)).toEqual([false, false]);
    expect(deferred.slice(MFT_WINDOW_CONCURRENCY).every(Boolean)).toBe(true);
    // Before the deadline nothing is deferred.
    expect(windows.some((window) => windowDeferral(at(Date.parse(plan.deadline!)), plan, window))).toBe(false);
  });

  it('a run of no more windows than one round, and a manual run, have no deadline', async () => {
    const few = { ...settings, schedule: mftSchedule({ windowMinutes: 60, lagMinutes: 15, initialLookbackHours: MFT_WINDOW_CONCURRENCY, maxWindows: 48 }) };
    const small = await planMftRun(mftExportInputSchema.parse({}), few, undefined, 'e', Date.parse('2026-12-01T10:15:00Z'));
    expect(small.windows.length).toBeLessThanOrEqual(MFT_WINDOW_CONCURRENCY);
    expect(small.plan.deadline).toBeUndefined();
    const manual = await planMftRun(
      mftExportInputSchema.parse({ window: { start: '2026-11-01T00:00:00Z', end: '2026-11-02T00:00:00Z' } }),
      settings,
      undefined,
      'e',
      now,
    );
    expect(manual.run.mode).toBe('manual');
    expect(manual.plan.deadline).toBeUndefined();
  });
});

describe('CommitRun with deferred windows', () => {
  const window = (hour: number) => ({ start: `2026-12-01T0${hour}:00:00.000Z`, end: `2026-12-01T0${hour + 1}:00:00.000Z` });
  const ledger = () => {
    const state = { watermark: '2026-12-01T01:00:00.000Z', advancedTo: undefined as string | undefined };
    return {
      state,
      read: async () => ({ stream: 's', watermark: state.watermark }),
      advance: async (_: string, to: string) => ((state.advancedTo = to), 'advanced' as const),
      release: async () => undefined,
      recordRun: async () => undefined,
    };
  };

  it('advances over the windows done before them, counts them neither done nor failed, and says so', async () => {
    const fake = ledger();
    const result = await commitRun(
      fake as never,
      { mode: 'scheduled', stream: 's', executionId: 'e', leaseOwner: 'e', watermarkBefore: fake.state.watermark },
      [
        { window: window(1), status: 'SUCCEEDED' },
        { window: window(2), status: 'SUCCEEDED' },
        { window: window(3), status: 'DEFERRED' },
        { window: window(4), status: 'DEFERRED' },
      ],
      now,
    );
    expect(result).toMatchObject({ status: 'SUCCEEDED', windows: 2, failedWindows: 0, watermarkAfter: '2026-12-01T03:00:00.000Z' });
    expect(result.message).toBe('checkpoint advanced to 2026-12-01T03:00:00.000Z; 2 window(s) deferred to the next run (not started within the execution timeout)');
  });
});
