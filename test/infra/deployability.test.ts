import { describe, expect, it } from 'vitest';
import { MFT_FUNCTIONS } from '../../functions/mft/handlers/index.js';
import { XRAY_FUNCTIONS } from '../../functions/xray/handlers/index.js';
import {
  DERIVED_NAME_ROOM,
  HISTORY_EVENT_LIMIT,
  LONGEST_FUNCTION_ID,
  derivedNameProblems,
  mftHistoryEventsAtMost,
  parseConfig,
  stateMachineName,
  XRAY_MAX_GROUPS_PER_RUN,
  xrayGroupsPerRun,
} from '../../infra/config.js';
import { synthesize, TEST_ENV } from './synth.js';

/**
 * Settings the configuration schema used to accept but AWS refuses at deploy time (or synth crashes on): the
 * configuration must say so first, naming the field and what would be accepted.
 */

const bothSources = (stackName: string) => ({
  stackName,
  env: TEST_ENV,
  sources: { xray: { enabled: true, baseUrl: 'https://acme.jfrog.io' } },
});

describe('stackName', () => {
  it('is refused when a state machine name derived from it would pass 80 characters (synth used to crash on it)', () => {
    const stackName = `A${'b'.repeat(69)}`;
    expect(stateMachineName(stackName, 'xray').length).toBeGreaterThan(80);
    expect(() => parseConfig({ stackName })).toThrow(/stackName is 70 characters long: a state machine name derived from it/);
    expect(() => parseConfig({ stackName })).toThrow(/would pass AWS's limit of 80/);
  });

  it('keeps room for the names of later instances in function names (64) too, and says how long it may be', () => {
    const problems = derivedNameProblems(`A${'b'.repeat(40)}`);
    expect(problems).toEqual([expect.stringMatching(/function name .* limit of 64; use at most 29 characters/)]);
    expect(derivedNameProblems('AuditExport')).toEqual([]);
    expect(DERIVED_NAME_ROOM).toBeGreaterThanOrEqual(16);
  });

  it('the longest accepted name synthesizes with both sources, every name within its limit; one more character is refused', () => {
    const longest = `A${'b'.repeat(28)}`;
    expect(derivedNameProblems(longest)).toEqual([]);
    expect(derivedNameProblems(`${longest}c`)).not.toEqual([]);
    expect(() => parseConfig(bothSources(`${longest}c`))).toThrow(/stackName is 30 characters long/);

    const { template } = synthesize(bothSources(longest));
    const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    expect(machines.map((machine) => machine.Properties.StateMachineName).sort()).toEqual([
      stateMachineName(longest, 'mft'),
      stateMachineName(longest, 'xray'),
    ]);
    for (const machine of machines) expect(machine.Properties.StateMachineName.length + DERIVED_NAME_ROOM).toBeLessThanOrEqual(80);
  });

  it('LONGEST_FUNCTION_ID covers every function of the function tables, the consumer and the OCSF normalizer', () => {
    const ids = [...Object.values(MFT_FUNCTIONS), ...Object.values(XRAY_FUNCTIONS)].map((fn) => fn.id);
    ids.push('VerifyManifest', 'NormalizeOcsf');
    for (const id of ids) expect(id.length, id).toBeLessThanOrEqual(LONGEST_FUNCTION_ID);
  });
});

describe('lifecycle rules', () => {
  it('a Glacier transition less than 30 days after the Infrequent Access one is refused (S3 rejects the rule)', () => {
    const bucket = (fields: object) => ({ bucket: { transitionToInfrequentAccessAfterDays: 45, ...fields } });
    expect(() => parseConfig(bucket({ transitionToGlacierAfterDays: 74 }))).toThrow(
      /bucket\.transitionToGlacierAfterDays must be at least 30 days after transitionToInfrequentAccessAfterDays \(45\), i\.e\. 75 or more/,
    );
    expect(() => parseConfig(bucket({ transitionToGlacierAfterDays: 45 }))).toThrow(/i\.e\. 75 or more/);
    expect(parseConfig(bucket({ transitionToGlacierAfterDays: 75 })).bucket.transitionToGlacierAfterDays).toBe(75);
  });

  it('expiry must come after every transition, and Standard-IA no sooner than S3 allows (30 days)', () => {
    expect(() => parseConfig({ bucket: { transitionToGlacierAfterDays: 90, expireAfterDays: 90 } })).toThrow(
      /bucket\.expireAfterDays must be later than the storage-class transitions/,
    );
    expect(() => parseConfig({ bucket: { expireAfterDays: 30 } })).toThrow(/bucket\.expireAfterDays must be later/);
    expect(() => parseConfig({ bucket: { transitionToInfrequentAccessAfterDays: 29 } })).toThrow(
      /bucket\.transitionToInfrequentAccessAfterDays must be at least 30/,
    );
    expect(parseConfig({ bucket: { transitionToGlacierAfterDays: 60, expireAfterDays: 61 } }).bucket.expireAfterDays).toBe(61);
  });
});

describe('MFT runs within Step Functions limits', () => {
  it('the largest run the configuration allows fits the 25,000 history events (checked on the engine: mft-state-bounds)', () => {
    const max = parseConfig({ sources: { mft: { maxWindowsPerRun: 500 } } }).sources.mft[0]!;
    expect(mftHistoryEventsAtMost(max)).toBeLessThanOrEqual(HISTORY_EVENT_LIMIT);
    expect(mftHistoryEventsAtMost(parseConfig({}).sources.mft[0]!)).toBeLessThan(HISTORY_EVENT_LIMIT / 2);
  });

  it('refuses windows and polling that could pass the history limit', () => {
    expect(() => parseConfig({ sources: { mft: { maxWindowsPerRun: 500, pollIntervalSeconds: 5 } } })).toThrow(
      /sources\.mft\.maxWindowsPerRun \(500 windows, polled every 5 s\) could make an execution record 36640 history events, more than Step Functions' 25000/,
    );
    expect(parseConfig({ sources: { mft: { maxWindowsPerRun: 200, pollIntervalSeconds: 10 } } }).sources.mft[0]!.maxWindowsPerRun).toBe(200);
  });

  it('refuses a report wait that leaves no time to copy the report before the execution timeout', () => {
    expect(() => parseConfig({ sources: { mft: { maxWaitSeconds: 86_400 } } })).toThrow(
      /sources\.mft\.maxWaitSeconds must be at most 5925 s: a report waited for longer could not be copied within the state machine's 2-hour execution timeout/,
    );
    expect(parseConfig({ sources: { mft: { maxWaitSeconds: 3600 } } }).sources.mft[0]!.maxWaitSeconds).toBe(3600);
  });
});

describe('Xray runs within the state limit', () => {
  it('refuses a grouping that makes a run more groups than fit the execution state (measured: xray-state-bounds)', () => {
    const xray = (fields: object) => ({ sources: { xray: { enabled: true, baseUrl: 'https://acme.jfrog.io', ...fields } } });
    expect(() => parseConfig(xray({ groupHours: 1 }))).toThrow(
      /sources\.xray\.groupHours makes a run of 744 windows \(plus the overlap\) 746 groups; at most 64 fit the execution state/,
    );
    expect(xrayGroupsPerRun(parseConfig(xray({})).sources.xray[0]!)).toBe(5);
    expect(xrayGroupsPerRun(parseConfig(xray({ groupHours: 12 })).sources.xray[0]!)).toBeLessThanOrEqual(XRAY_MAX_GROUPS_PER_RUN);
  });
});
