import path from 'node:path';
import { reportLocation, type MftExportPlan } from '../functions/mft/export-plan.js';
import { mftRuntimeFromEnvironment } from '../functions/mft/runtime.js';
import { xrayRuntimeFromEnvironment } from '../functions/xray/runtime.js';
import { runMftExport, runXrayExport } from '../local/run-export.js';
import { DeployedStack, readCloudAssembly, twinBindings } from '../local/deployed-stack.js';
import { errorOrigin, type ExecutionEvent, type LocalRunResult } from '../local/state-machine-runner.js';
import { ConfigError, errorMessage } from '../functions/common/errors.js';
import { startTwin, type Twin } from '../local/twin.js';
import { startAwsExecution } from './aws-execution.js';
import { chooseInstance, type ChosenInstance } from './instances.js';
import { MFT_STEPS, createProgress, formatBytes, readableCause, xraySteps } from './progress.js';
import { EXIT_OK, UsageError, createOutput, exitCodeOf, parseCommandArgs, type Output, type TARGET_OPTIONS } from './usage.js';

/**
 * Where an export runs: the local twin, the twin running the synthesized stack (cdk.out: bundled Lambdas, the
 * deployed definitions), the local runner against configured endpoints, or AWS.
 */
export type Target = 'twin' | 'deployed' | 'env' | 'aws';
export type Source = 'mft' | 'xray';

export interface StoredObjectSummary {
  bucket: string;
  key: string;
  bytes: number;
  sha256?: string;
}

/** The `--json` result of every run command (the last line of stdout). */
export interface RunSummary {
  source: Source;
  /** SKIPPED: the execution succeeded without exporting, another one holds the lease of these windows. */
  status: 'SUCCEEDED' | 'FAILED' | 'SKIPPED';
  target: Target;
  executionArn: string;
  window?: { start: string; end: string };
  reportId?: string;
  reportIds?: string[];
  objects: StoredObjectSummary[];
  records?: number;
  checkpoint?: string | null;
  message?: string;
  /** The requested range that was not over yet and was not exported (the schedule exports it). */
  cut?: { start: string; end: string };
  /** Windows older than the source's retention that were never stored: lost for good. */
  lostToRetention?: number;
  lost?: { start: string; end: string }[];
  /** Windows whose answer held less than what is stored (kept as stored, flagged in their manifests). */
  shortAnswers?: number;
  tookOver?: string[];
  windows?: { window: { start: string; end: string }; events: number; parts: number; bytes: number }[];
  events?: number;
  bytes?: number;
  error?: string;
  cause?: string;
  stateTransitions?: number;
  /** Where the error began on a local target (the execution history's first state with it), with its cause. */
  failedAt?: { state: string; cause: string };
  durationMs: number;
}

/** What parseArgs gives back for a command's options. */
export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

/**
 * `audit-export run <source>`: parses the options, builds and validates the execution input, runs it on the
 * target and prints the result. Exit 0 when the execution exported, 1 when it failed, 3 when it was skipped
 * (another execution holds the lease of its windows).
 */
export async function runSourceCommand<O extends typeof TARGET_OPTIONS>(
  source: Source,
  args: string[],
  options: O,
  help: string,
  inputFromArgs: (values: ParsedValues) => unknown,
): Promise<number> {
  const values = parseCommandArgs(args, options, `run ${source}`).values as ParsedValues;
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return EXIT_OK;
  }
  const input = inputFromArgs(values);
  const output = createOutput(values.json === true);
  const target = parseTarget(values.target as string | undefined);
  const instance = chooseInstance(source, target, values.instance as string | undefined);
  const summary = await runOnTarget({ source, target, input, output, twinDir: values['twin-dir'] as string | undefined, instance });
  output.result(summary);
  return exitCodeOf(summary);
}

/** The twin's instances of a source: those the environment names (`MFT_INSTANCES`), else one unnamed. */
export function twinInstances(source: Source, instance: ChosenInstance): { instances?: { mft?: string[]; xray?: string[] } } {
  return instance.named ? { instances: { [source]: instance.named } } : {};
}

export function parseTarget(value: string | undefined): Target {
  const target = value ?? (process.env.AUDIT_EXPORT_TARGET || 'twin');
  if (target !== 'twin' && target !== 'deployed' && target !== 'env' && target !== 'aws') {
    throw new UsageError(`--target must be twin, deployed, env or aws (got ${JSON.stringify(target)})`);
  }
  return target;
}

export interface RunOptions {
  source: Source;
  target: Target;
  input: unknown;
  output: Output;
  twinDir?: string;
  /** An already running twin (the demo runs both sources on one). */
  twin?: Twin;
  /** Deterministic for backfills (idempotent on AWS); generated otherwise. */
  executionName?: string;
  /** The instance of the source (default: the only one, from the environment). */
  instance?: ChosenInstance;
}

export async function runOnTarget(options: RunOptions): Promise<RunSummary> {
  const { source, target, input, output } = options;
  const instance = options.instance ?? chooseInstance(source, target, undefined);
  if (target === 'aws') return startAwsExecution(source, input, output, options.executionName, undefined, instance.env);
  let twin = options.twin;
  const ownTwin = (target === 'twin' || target === 'deployed') && !twin;
  if (ownTwin) {
    output.info(`starting the local twin (${source === 'mft' ? 'MFT' : 'Xray'} emulator, local S3)…`);
    twin = await startTwin({ directory: options.twinDir ?? path.resolve('.twin'), xray: source === 'xray' ? {} : false, ...twinInstances(source, instance) });
  }
  // A twin started for named instances has an emulator for each; the default twin has one, unnamed.
  const twinInstance = instance.named ? instance.name : undefined;
  try {
    const stream = output.json ? process.stderr : process.stdout;
    const onEvent = createProgress({
      write: (text) => stream.write(text),
      steps: source === 'mft' ? MFT_STEPS : xraySteps(),
    });
    const local = { input, waitMs: twin?.waitMs, retryMs: twin?.retryMs, onEvent, executionName: options.executionName, logger: twin?.logger };
    const started = Date.now();
    const result =
      target === 'deployed'
        ? await runDeployed(source, twin!, local)
        : source === 'mft'
          ? await runMftExport(twin ? twin.mftRuntime({}, twinInstance) : await mftRuntimeFromEnvironment(instance.env), local)
          : await runXrayExport(twin ? twin.xrayRuntime({}, twinInstance) : xrayRuntimeFromEnvironment(instance.env), local);
    const summary = summarize(source, target, result, Date.now() - started);
    tellOutcome(summary, output);
    if (summary.status === 'FAILED') output.info(`✗ ${summary.error}: ${summary.cause}`);
    if (summary.failedAt) output.info(`  at ${summary.failedAt.state}: ${summary.failedAt.cause}`);
    if (summary.status === 'SUCCEEDED' && summary.events !== undefined) {
      const seconds = Math.max(summary.durationMs / 1000, 0.001);
      output.info(
        `✓ ${summary.events.toLocaleString('en-US')} events in ${summary.windows?.length} group(s) of windows, ` +
          `${formatBytes(summary.bytes ?? 0)} compressed, ${Math.round(summary.events / seconds).toLocaleString('en-US')} events/s`,
      );
    }
    return summary;
  } finally {
    if (ownTwin) await twin?.close();
  }
}

/** `--target deployed`: the synthesized stack in cdk.out, on the twin (see local/deployed-stack.ts). */
async function runDeployed(
  source: Source,
  twin: Twin,
  local: { input: unknown; waitMs?: number; retryMs?: number; onEvent: (event: ExecutionEvent) => void; executionName?: string },
): Promise<LocalRunResult> {
  const directory = path.resolve('cdk.out');
  const assembly = await readCloudAssembly(directory).catch((error: unknown) => {
    throw new ConfigError(`--target deployed runs the synthesized stack in ${directory}: run \`npm run synth\` first (${errorMessage(error)})`);
  });
  const stack = await DeployedStack.start(assembly, twinBindings(twin, assembly));
  try {
    const machine = stack.stateMachines.find((candidate) => candidate.name.endsWith(`-${source}-export`));
    if (!machine) throw new ConfigError(`${directory} has no ${source} state machine: enable sources.${source} in the configuration and run \`npm run synth\``);
    const executionName = local.executionName ?? `${source}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    return await stack.run(machine, { ...local, executionName });
  } finally {
    await stack.close();
  }
}

/** The state machines' outputs: one result per window (MFT) or per group of windows (Xray). */
interface WindowResultOutput {
  window: { start: string; end: string };
  status: string;
  reportId?: string;
  object?: StoredObjectSummary & { records?: number; manifestKey?: string };
  events?: number;
  parts?: number;
  bytes?: number;
  records?: number;
  /** MFT: the generation the window's report was stored as (its key follows from it). */
  generation?: number;
}

/** What every run's output says beyond its windows (the state machines' Summarize state). */
export interface RunOutput {
  status?: string;
  windows?: WindowResultOutput[];
  checkpoint?: string | null;
  message?: string;
  mode?: string;
  cut?: { start: string; end: string } | null;
  lostToRetention?: number;
  lost?: { start: string; end: string }[];
  shortAnswers?: number;
  tookOver?: string[];
}

/** Copies what a run's output says about skips, cuts, losses and short answers into its summary. */
export function addOutcome(summary: RunSummary, out: RunOutput): RunSummary {
  if (summary.status === 'SUCCEEDED' && out.status === 'SKIPPED') summary.status = 'SKIPPED';
  if (out.checkpoint !== undefined) summary.checkpoint = out.checkpoint;
  if (out.message) summary.message = out.message;
  if (out.cut) summary.cut = out.cut;
  if (out.lostToRetention) {
    summary.lostToRetention = out.lostToRetention;
    summary.lost = out.lost ?? [];
  }
  if (out.shortAnswers) summary.shortAnswers = out.shortAnswers;
  if (out.tookOver?.length) summary.tookOver = out.tookOver;
  return summary;
}

/** The lines a person must read: what was skipped, cut, lost, short, or taken over. */
export function tellOutcome(summary: RunSummary, output: Output): void {
  for (const line of summary.tookOver ?? []) output.info(`↻ ${line}`);
  if (summary.status === 'SKIPPED') output.info(`⏭ ${summary.message ?? 'skipped'} (exit code 3)`);
  if (summary.cut) {
    output.info(
      `✂ not exported: ${summary.cut.start} → ${summary.cut.end} is not over yet (windows are exported once they end, plus the lag); ` +
        'the schedule exports it, or run this again later',
    );
  }
  if (summary.lostToRetention) {
    output.info(
      `⚠ ${summary.lostToRetention} window(s) older than the source's retention were never stored and are lost for good: ` +
        `${(summary.lost ?? []).map((range) => `${range.start} → ${range.end}`).join(', ')}`,
    );
  }
  if (summary.shortAnswers) {
    output.info(`⚠ ${summary.shortAnswers} window(s) got an answer holding less than what is stored: nothing stored changed; see their manifests (shortAnswers)`);
  }
}

export function summarize(source: Source, target: Target, result: LocalRunResult, durationMs: number): RunSummary {
  const out = (result.output ?? {}) as RunOutput;
  // Deferred windows (not started, for the next scheduled run) are named in the message, not exported.
  const results = (out.windows ?? []).filter((window) => window.status !== 'DEFERRED');
  const summary: RunSummary = {
    source,
    // A timed-out execution failed (error States.Timeout), as the AWS target reports it.
    status: result.status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED',
    target,
    executionArn: result.executionArn,
    objects: results.flatMap((window) => (window.object ? [window.object] : mftObject(result, window))),
    stateTransitions: result.stateTransitions,
    durationMs,
  };
  if (results.length) summary.window = { start: results[0]!.window.start, end: results[results.length - 1]!.window.end };
  const reports = results.flatMap((window) => (window.reportId ? [window.reportId] : []));
  if (reports.length === 1) summary.reportId = reports[0];
  if (reports.length) summary.reportIds = reports;
  if (source === 'xray') {
    summary.windows = results.map((window) => ({ window: window.window, events: window.events ?? 0, parts: window.parts ?? 0, bytes: window.bytes ?? 0 }));
    summary.events = summary.windows.reduce((sum, window) => sum + window.events, 0);
    summary.bytes = summary.windows.reduce((sum, window) => sum + window.bytes, 0);
  } else {
    summary.records = summary.objects.reduce((sum, object) => sum + ((object as { records?: number }).records ?? 0), 0);
    summary.bytes = summary.objects.reduce((sum, object) => sum + object.bytes, 0);
  }
  addOutcome(summary, out);
  if (result.error) summary.error = result.error;
  if (result.cause) summary.cause = readableCause(result.cause);
  const origin = result.status === 'SUCCEEDED' ? undefined : errorOrigin(result);
  if (origin) summary.failedAt = { state: origin.state, cause: readableCause(origin.cause) };
  return summary;
}

/**
 * An MFT window's result names its window and generation only (the execution state holds every result of a
 * run); its object's key follows from them and the run's plan, which PlanExport returned.
 */
function mftObject(result: LocalRunResult, window: WindowResultOutput): (StoredObjectSummary & { records?: number })[] {
  if (window.status !== 'SUCCEEDED' || typeof window.bytes !== 'number' || window.events !== undefined) return [];
  const planned = result.events.find((event) => event.type === 'StateExited' && event.state?.name === 'PlanExport')?.state?.output as
    | { plan?: MftExportPlan }
    | undefined;
  if (!planned?.plan) return [];
  const object: StoredObjectSummary & { records?: number } = { bucket: planned.plan.bucket, key: reportLocation(planned.plan, window.window, window.generation ?? 1).key, bytes: window.bytes };
  if (typeof window.records === 'number') object.records = window.records;
  return [object];
}
