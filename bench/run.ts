/**
 * `npm run bench`: the export's performance on the local twin, against the limits of this machine.
 *
 *   1. Xray: export of BENCH_XRAY_EVENTS events over BENCH_XRAY_DAYS days through the real state machine
 *      and handlers, beside a bare sequential pull of exactly the same pages (the emulator's request log).
 *   2. MFT: copy of a ~BENCH_MFT_BYTES report into S3, beside a bare download of the same file.
 *   3. Lambda bundles (esbuild, minified, as CDK builds them) and the cold-start import time of each.
 *
 * The servers (emulators; s3rver) run in child processes of their own (bench/servers.ts), and each measured
 * scenario in a fresh child (bench/worker.ts, bundled), so a peak RSS is that of the process running the
 * handlers and nothing else. Prints a table, then the JSON summary as the last line. See bench/README.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AuditTimeline } from '../emulators/mft/dataset.js';
import { reportChunks } from '../emulators/mft/formats.js';
import { DEFAULT_CSV_PAGE_SIZE } from '../functions/xray/model.js';
import { measureBundles, type BundleFigures } from './bundles.js';
import { DATA_FUNCTION_TIMEOUT_SECONDS, estimateCost, LAMBDA_MB_PER_VCPU, LAMBDA_MEMORY_MB, lambdaSecondsFor, MEMORY_SWEEP_MB, memoryPoint, THROUGHPUT_FLOORS, type CostEstimate } from './lib/cost.js';
import { buildWorkerBundle, runWorker, startServers, WORKER_BUNDLE, type RunningServers } from './lib/processes.js';
import type { MftCopyResult, MftDownloadResult, ServerStats, XrayExportResult, XrayPullResult } from './lib/protocol.js';
import { median } from './lib/median.js';
import { fmt, MiB, renderTable, type Row } from './lib/table.js';

const env = process.env;
const config = {
  xrayEvents: Number(env.BENCH_XRAY_EVENTS ?? 1_000_000),
  xrayDays: Number(env.BENCH_XRAY_DAYS ?? 30),
  /** The stream's window grid (XRAY_WINDOW_MINUTES): the product's default is hourly. */
  xrayWindowMinutes: Number(env.BENCH_XRAY_WINDOW_MINUTES ?? 60),
  /** XRAY_CSV_PAGE_SIZE of the CSV export (default: the product's). */
  xrayCsvPageSize: env.BENCH_XRAY_CSV_PAGE_SIZE ? Number(env.BENCH_XRAY_CSV_PAGE_SIZE) : undefined,
  xrayFormats: (env.BENCH_XRAY_FORMATS ?? 'json').split(',').map((format) => format.trim()) as ('json' | 'csv')[],
  mftBytes: Number(env.BENCH_MFT_BYTES ?? 2_000_000_000),
  importRuns: Number(env.BENCH_IMPORT_RUNS ?? 9),
  /** Comma-separated parts to skip: xray, mft, bundles. */
  skip: new Set((env.BENCH_SKIP ?? '').split(',').map((part) => part.trim()).filter(Boolean)),
  /** BENCH_WORKER=tsx runs the measured scenarios under tsx instead of bundled (debugging). */
  bundledWorker: env.BENCH_WORKER !== 'tsx',
  /** Runs of the Xray and MFT parts (fresh servers each time); the table shows the median of each figure. */
  repeat: Math.max(1, Math.round(Number(env.BENCH_REPEAT ?? 1))),
};

export const TARGETS = {
  /** Wall-clock ratios: printed as figures (on one 2-core machine the servers compete with the exporter). */
  exportPullRatio: 0.8,
  /**
   * The exporter's CPU per unit over the bare pull's, on the handlers' own CPU: moving bytes costs about one
   * download plus one upload (~2×); Xray also compresses (CSV pages are also unzipped and scanned).
   */
  mftCopyCpuRatio: 2.2,
  xrayJsonCpuRatio: 3.0,
  xrayCsvCpuRatio: 3.5,
  peakRssBytes: 256 * MiB,
  transitionsPerMillionEvents: 100,
  /** AWS's limit is 25,000 history events per execution; "far below" is read as at most a tenth of it. */
  historyEventsPerMillionEvents: 2_500,
  historyLimit: 25_000,
  bundleBytes: 1_500_000,
  importMs: 300,
};

/** The dataset ends here (fixed, so runs are comparable); the range starts BENCH_XRAY_DAYS before. */
const XRAY_DATASET_END = '2026-11-01T00:00:00.000Z';
/** One aligned hour: a single MFT window and report, whatever the window grid. */
const MFT_WINDOW = { start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T01:00:00.000Z' };

/** CPU-seconds each process spent during one measured phase (the measured process's whole life). */
interface CpuShares {
  process: number;
  emulator: number;
  s3Server: number;
}

/** Starts counting the servers' CPU; the returned function gives what they spent since. */
async function serverCpu(emulators: RunningServers, s3: RunningServers): Promise<() => Promise<Omit<CpuShares, 'process'>>> {
  const [emulatorBefore, s3Before] = await Promise.all([emulators.cpuSeconds(), s3.cpuSeconds()]);
  return async () => {
    const [emulatorAfter, s3After] = await Promise.all([emulators.cpuSeconds(), s3.cpuSeconds()]);
    return { emulator: emulatorAfter - emulatorBefore, s3Server: s3After - s3Before };
  };
}

interface XraySummary {
  format: 'json' | 'csv';
  export: XrayExportResult;
  pull: XrayPullResult;
  cpu: { export: CpuShares; pull: CpuShares };
  eventsPerSecond: number;
  pullEventsPerSecond: number;
  ratio: number;
  /** The handlers' CPU over the bare pull's, for the same pages. */
  cpuRatio: number;
  lambdaInvocations: number;
  transitionsPerMillionEvents: number;
  historyEventsPerMillionEvents: number;
  cost: CostEstimate;
  costPerMillionEventsUsd: number;
  servers?: ServerStats;
  /** s3rver's process (CPU over the export and the pull: the pull does not touch it). */
  s3Server?: ServerStats;
}

interface MftSummary {
  copy: MftCopyResult;
  download: MftDownloadResult;
  copyMBps: number;
  downloadMBps: number;
  ratio: number;
  /** CopyReport's CPU over the bare download's, for the same file. */
  cpuRatio: number;
  cost: CostEstimate;
  eventsPerHour: number;
  /** The copy's CPU is that of the whole execution (the emulator also measures the report before it completes). */
  cpu: { download: CpuShares; copy: CpuShares };
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/**
 * Node options of the measured processes: BENCH_CPU_PROF's profiler (`BENCH_CPU_PROF=<dir>`: a V8 CPU profile
 * named after the phase, e.g. `xray-json-export-1.cpuprofile`), and for the export and copy BENCH_NODE_ARGS
 * (e.g. --trace-gc).
 */
function profileArgs(phase: string, run: number, extra = true): string[] {
  const directory = process.env.BENCH_CPU_PROF;
  const options = extra ? (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean) : [];
  return [...(directory ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(directory), '--cpu-prof-name', `${phase}-${run}.cpuprofile`] : []), ...options];
}

async function benchXray(format: 'json' | 'csv', bundle: string | undefined, run: number): Promise<XraySummary> {
  const end = Date.parse(XRAY_DATASET_END);
  const window = { start: new Date(end - config.xrayDays * 86_400_000).toISOString(), end: XRAY_DATASET_END };
  const directory = await mkdtemp(path.join(os.tmpdir(), 'audit-export-bench-xray-'));
  const emulators = await startServers({ role: 'emulators', xray: { events: config.xrayEvents, datasetStart: window.start, datasetEnd: window.end } });
  const s3 = await startServers({ role: 's3', directory, bucket: 'audit-export-bench' });
  try {
    const servers = { ...emulators.ready, ...s3.ready };
    log(`xray ${format}: exporting ${fmt.int(config.xrayEvents)} events over ${config.xrayDays} days…`);
    const exportCpu = await serverCpu(emulators, s3);
    const exported = await runWorker<XrayExportResult>({ mode: 'xray-export', servers, window, format, windowMinutes: config.xrayWindowMinutes, csvPageSize: config.xrayCsvPageSize }, { bundle, nodeArgs: profileArgs(`xray-${format}-export`, run) });
    if (exported.status !== 'SUCCEEDED') throw new Error(`Xray export ${exported.status}: ${exported.error}`);
    const exportServers = await exportCpu();
    const requests = (await emulators.xrayRequests()).filter((request) => request.method === 'GET');
    log(`xray ${format}: bare pull of the same ${requests.length} pages…`);
    const pullCpu = await serverCpu(emulators, s3);
    const pull = await runWorker<XrayPullResult>({ mode: 'xray-pull', servers, requests }, { bundle, nodeArgs: profileArgs(`xray-${format}-pull`, run, false) });
    const pullServers = await pullCpu();
    const eventsPerSecond = exported.events / exported.seconds;
    const pullEventsPerSecond = exported.events / pull.seconds;
    const lambdaInvocations = Object.values(exported.taskInvocations).reduce((a, b) => a + b, 0);
    const cost = estimateCost(exported.stateTransitions, exported.taskDurationsMs, exported.s3);
    const perMillion = 1_000_000 / Math.max(1, exported.events);
    const summary: XraySummary = {
      format,
      export: exported,
      pull,
      cpu: {
        export: { process: exported.memory.cpuSeconds, ...exportServers },
        pull: { process: pull.memory.cpuSeconds, ...pullServers },
      },
      eventsPerSecond,
      pullEventsPerSecond,
      ratio: eventsPerSecond / pullEventsPerSecond,
      cpuRatio: exported.handlerCpuSeconds / pull.cpuSeconds,
      lambdaInvocations,
      transitionsPerMillionEvents: exported.stateTransitions * perMillion,
      historyEventsPerMillionEvents: exported.historyEvents * perMillion,
      cost,
      costPerMillionEventsUsd: cost.totalUsd * perMillion,
    };
    const stats = await emulators.stop();
    if (stats) summary.servers = stats;
    const s3Stats = await s3.stop();
    if (s3Stats) summary.s3Server = s3Stats;
    return summary;
  } finally {
    await emulators.stop().catch(() => undefined);
    await s3.stop().catch(() => undefined);
    await rm(directory, { recursive: true, force: true });
  }
}

/** Bytes per event of a JSON report, from a sample of the emulator's timeline (the same generator). */
function mftBytesPerEvent(): number {
  const timeline = new AuditTimeline(1, 100_000);
  const query = { type: 0 as const, start: MFT_WINDOW.start, end: new Date(Date.parse(MFT_WINDOW.start) + 360_000).toISOString(), actor: null, actorType: 'All' as const, actions: [], resources: [], outcomes: [], sourceIp: null };
  let bytes = 0;
  for (const chunk of reportChunks(timeline.eventsFor(query), 0)) bytes += chunk.length;
  return bytes / 10_000;
}

async function benchMft(bundle: string | undefined, run: number): Promise<MftSummary> {
  const eventsPerHour = Math.max(1, Math.round(config.mftBytes / mftBytesPerEvent()));
  const directory = await mkdtemp(path.join(os.tmpdir(), 'audit-export-bench-mft-'));
  const emulators = await startServers({ role: 'emulators', mft: { seed: 1, eventsPerHour, reportReadyAfterMs: 100 } });
  const s3 = await startServers({ role: 's3', directory: path.join(directory, 's3'), bucket: 'audit-export-bench' });
  try {
    const servers = { ...emulators.ready, ...s3.ready };
    log(`mft: bare download of a ~${fmt.mb(config.mftBytes)} report (${fmt.int(eventsPerHour)} events; the emulator measures it first)…`);
    const downloadCpu = await serverCpu(emulators, s3);
    const download = await runWorker<MftDownloadResult>({ mode: 'mft-download', servers, window: MFT_WINDOW }, { bundle, nodeArgs: profileArgs('mft-download', run, false) });
    const downloadServers = await downloadCpu();
    log(`mft: export of the same report into S3…`);
    const copyCpu = await serverCpu(emulators, s3);
    const copy = await runWorker<MftCopyResult>({ mode: 'mft-copy', servers, window: MFT_WINDOW, scratchDirectory: directory }, { bundle, nodeArgs: profileArgs('mft-copy', run) });
    if (copy.status !== 'SUCCEEDED') throw new Error(`MFT export ${copy.status}: ${copy.error}`);
    const copyServers = await copyCpu();
    const copyMBps = copy.bytes / 1e6 / copy.copySeconds;
    const downloadMBps = download.bytes / 1e6 / download.seconds;
    return {
      copy,
      download,
      copyMBps,
      downloadMBps,
      ratio: copyMBps / downloadMBps,
      cpuRatio: copy.copyCpuSeconds / copy.bytes / (download.cpuSeconds / download.bytes),
      cost: estimateCost(copy.stateTransitions, copy.taskDurationsMs, copy.s3),
      eventsPerHour,
      cpu: {
        download: { process: download.memory.cpuSeconds, ...downloadServers },
        copy: { process: copy.memory.cpuSeconds, ...copyServers },
      },
    };
  } finally {
    await emulators.stop().catch(() => undefined);
    await s3.stop().catch(() => undefined);
    await rm(directory, { recursive: true, force: true });
  }
}

function peakRss(memory: { maxRssBytes: number; sampledPeakRssBytes: number }): number {
  return Math.max(memory.maxRssBytes, memory.sampledPeakRssBytes);
}

function xrayRows(x: XraySummary): Row[] {
  const section = `Xray ${x.format}`;
  const e = x.export;
  const invocations = Object.entries(e.taskInvocations).map(([name, count]) => `${name} ${count}`).join(', ');
  return [
    { section, metric: `export: ${fmt.int(e.events)} events in ${fmt.fixed(e.seconds)} s (${config.xrayWindowMinutes}-minute windows${x.format === 'csv' ? `, CSV pages of ${fmt.int(config.xrayCsvPageSize ?? DEFAULT_CSV_PAGE_SIZE)}` : ''})`, value: `${fmt.int(x.eventsPerSecond)} ev/s` },
    { section, metric: `bare pull of the same ${x.pull.pages} pages (${fmt.mb(x.pull.bytes)}) in ${fmt.fixed(x.pull.seconds)} s`, value: `${fmt.int(x.pullEventsPerSecond)} ev/s` },
    { section, metric: `export / pull throughput, wall clock (a figure: here the servers share the cores; ${TARGETS.exportPullRatio} on a host of its own)`, value: fmt.fixed(x.ratio, 2) },
    xrayCpuRatioRow(x),
    { section, metric: `peak RSS, process running the handlers (baseline ${fmt.mib(e.memory.baselineRssBytes)})`, value: fmt.mib(peakRss(e.memory)), target: `≤ ${fmt.mib(TARGETS.peakRssBytes)}`, met: peakRss(e.memory) <= TARGETS.peakRssBytes },
    { section, metric: `Lambda invocations (${invocations})`, value: fmt.int(x.lambdaInvocations) },
    { section, metric: `state transitions (${fmt.int(x.transitionsPerMillionEvents)} per 1M events)`, value: fmt.int(e.stateTransitions), target: `≤ ${TARGETS.transitionsPerMillionEvents} per 1M`, met: x.transitionsPerMillionEvents <= TARGETS.transitionsPerMillionEvents },
    { section, metric: `history events, estimated (${fmt.int(x.historyEventsPerMillionEvents)} per 1M events)`, value: fmt.int(e.historyEvents), target: `≤ ${fmt.int(TARGETS.historyEventsPerMillionEvents)} per 1M (limit ${fmt.int(TARGETS.historyLimit)})`, met: x.historyEventsPerMillionEvents <= TARGETS.historyEventsPerMillionEvents },
    { section, metric: `stored: ${e.parts} gzip parts, ${fmt.mb(e.bytesStored)}; largest state ${fmt.int(e.maxStatePayloadBytes)} B`, value: '' },
    { section, metric: `CPU-s during the export: handlers ${fmt.fixed(e.handlerCpuSeconds)} (process ${fmt.fixed(x.cpu.export.process)}), ${cpuLine(x.cpu.export)} (2 cores × ${fmt.fixed(e.seconds)} s)`, value: '' },
    xrayLambdaRow(x),
    { section, metric: `CPU-s by thread during the export: ${threadLine(e.threadCpuSeconds)}; the pull: ${threadLine(x.pull.threadCpuSeconds)}`, value: '' },
    { section, metric: `CPU-s during the bare pull: puller ${fmt.fixed(x.pull.cpuSeconds)} (process ${fmt.fixed(x.cpu.pull.process)}), ${cpuLine(x.cpu.pull)}`, value: '' },
    { section, metric: `est. AWS cost (${costLine(x.cost)})`, value: fmt.usd(x.cost.totalUsd) },
  ];
}

/**
 * What the measured CPU means in AWS, where the servers are not on the Lambda's CPU and the exporter is
 * bound by its own CPU share (network permitting): an estimate, since a Lambda vCPU is not this machine's core.
 */
function lambdaShare(placeholder: string): { memoryMb: number; vcpu: string } {
  const memoryMb = LAMBDA_MEMORY_MB[placeholder] ?? 1024;
  return { memoryMb, vcpu: fmt.fixed(Math.min(1, memoryMb / LAMBDA_MB_PER_VCPU), 2) };
}

/** The handlers' CPU per event over the bare pull's (the same pages): the target that holds on any machine. */
function xrayCpuRatioRow(x: XraySummary): Row {
  const target = x.format === 'csv' ? TARGETS.xrayCsvCpuRatio : TARGETS.xrayJsonCpuRatio;
  const perMillion = (seconds: number) => fmt.fixed((seconds * 1_000_000) / Math.max(1, x.export.events), 2);
  return {
    section: `Xray ${x.format}`,
    metric: `export / pull CPU per event (handlers ${perMillion(x.export.handlerCpuSeconds)} s, pull ${perMillion(x.pull.cpuSeconds)} s per 1M events)`,
    value: `${fmt.fixed(x.cpuRatio, 2)}×`,
    target: `≤ ${target}×`,
    met: x.cpuRatio <= target,
  };
}

function xrayLambdaRow(x: XraySummary): Row {
  const { memoryMb, vcpu } = lambdaShare('XrayExportPagesFunctionArn');
  const perMillion = (x.export.handlerCpuSeconds * 1_000_000) / Math.max(1, x.export.events);
  const eventsPerSecond = 1_000_000 / lambdaSecondsFor(perMillion, memoryMb);
  return {
    section: `Xray ${x.format}`,
    metric: `export CPU ${fmt.fixed(perMillion)} s per 1M events → one ${memoryMb} MB ExportPages Lambda (${vcpu} vCPU), CPU-bound, estimated`,
    value: `${fmt.int(eventsPerSecond)} ev/s`,
  };
}

function mftLambdaRow(m: MftSummary): Row {
  const { memoryMb, vcpu } = lambdaShare('CopyReportFunctionArn');
  const perGb = m.copy.copyCpuSeconds / (m.copy.bytes / 1e9);
  const secondsPerGb = lambdaSecondsFor(perGb, memoryMb);
  return {
    section: 'MFT',
    metric: `copy CPU ${fmt.fixed(perGb)} s per GB → ${memoryMb} MB CopyReport Lambda (${vcpu} vCPU): ${fmt.fixed(1000 / secondsPerGb)} MB/s, CPU-bound, est.; largest report in its ${DATA_FUNCTION_TIMEOUT_SECONDS / 60}-min timeout`,
    value: `${fmt.fixed(DATA_FUNCTION_TIMEOUT_SECONDS / secondsPerGb)} GB`,
  };
}

/** The main thread, libuv's pool (zlib, hashing), V8's helpers (garbage collection), … */
function threadLine(threads: Record<string, number> | undefined): string {
  if (!threads || !Object.keys(threads).length) return 'n/a';
  return Object.entries(threads).sort((a, b) => b[1] - a[1]).map(([name, seconds]) => `${name} ${fmt.fixed(seconds)}`).join(', ');
}

function cpuLine(cpu: CpuShares): string {
  return `emulator ${fmt.fixed(cpu.emulator)}, S3 server ${fmt.fixed(cpu.s3Server)}`;
}

function costLine(cost: CostEstimate): string {
  return `SFN ${fmt.usd(cost.stateTransitionsUsd)}, Lambda requests ${fmt.usd(cost.lambdaRequestsUsd)}, ${fmt.fixed(cost.gbSeconds)} GB-s ${fmt.usd(cost.lambdaComputeUsd)}, S3 requests ${fmt.usd(cost.s3RequestsUsd)}`;
}

function mftRows(m: MftSummary): Row[] {
  const section = 'MFT';
  return [
    { section, metric: `copy into S3: ${fmt.mb(m.copy.bytes)} in ${fmt.fixed(m.copy.copySeconds)} s (CopyReportToS3 state)`, value: `${fmt.fixed(m.copyMBps)} MB/s` },
    { section, metric: `bare download of the same file in ${fmt.fixed(m.download.seconds)} s`, value: `${fmt.fixed(m.downloadMBps)} MB/s` },
    { section, metric: `copy / download throughput, wall clock (a figure: here the servers share the cores; ${TARGETS.exportPullRatio} on a host of its own)`, value: fmt.fixed(m.ratio, 2) },
    {
      section,
      metric: `copy / download CPU per byte (CopyReport ${fmt.fixed(m.copy.copyCpuSeconds / (m.copy.bytes / 1e9), 2)} s, download ${fmt.fixed(m.download.cpuSeconds / (m.download.bytes / 1e9), 2)} s per GB)`,
      value: `${fmt.fixed(m.cpuRatio, 2)}×`,
      target: `≤ ${TARGETS.mftCopyCpuRatio}×`,
      met: m.cpuRatio <= TARGETS.mftCopyCpuRatio,
    },
    { section, metric: `peak RSS, process running the handlers (baseline ${fmt.mib(m.copy.memory.baselineRssBytes)})`, value: fmt.mib(peakRss(m.copy.memory)), target: `≤ ${fmt.mib(TARGETS.peakRssBytes)}`, met: peakRss(m.copy.memory) <= TARGETS.peakRssBytes },
    { section, metric: `state transitions / history events (whole execution ${fmt.fixed(m.copy.executionSeconds)} s)`, value: `${m.copy.stateTransitions} / ${m.copy.historyEvents}` },
    { section, metric: `of the copy, the twin's S3 CompleteMultipartUpload (concatenating the parts on disk) took`, value: `${fmt.fixed((m.copy.s3.CompleteMultipartUploadCommand?.totalMs ?? 0) / 1000)} s` },
    { section, metric: `CPU-s, whole export execution: CopyReport ${fmt.fixed(m.copy.copyCpuSeconds)} (process ${fmt.fixed(m.cpu.copy.process)}), ${cpuLine(m.cpu.copy)}`, value: '' },
    mftLambdaRow(m),
    { section, metric: `CPU-s by thread during the execution: ${threadLine(m.copy.threadCpuSeconds)}; the download: ${threadLine(m.download.threadCpuSeconds)}`, value: '' },
    { section, metric: `CPU-s during the bare download: the GET ${fmt.fixed(m.download.cpuSeconds)} (process ${fmt.fixed(m.cpu.download.process)}), ${cpuLine(m.cpu.download)}`, value: '' },
    { section, metric: `est. AWS cost (${costLine(m.cost)})`, value: fmt.usd(m.cost.totalUsd) },
  ];
}

/**
 * The memory model of README "Lambda memory", evaluated on this run's CPU-seconds: each size's CPU share,
 * CPU-bound throughput and compute cost per unit; the configured size is a target against its floor.
 */
function memoryRows(x: XraySummary | undefined, m: MftSummary | undefined): Row[] {
  const rows: Row[] = [];
  const sweep = (section: string, placeholder: string, cpuPerUnit: number, unit: string, show: (perSecond: number) => string, floor: number, floorText: string) => {
    const configured = LAMBDA_MEMORY_MB[placeholder] ?? 1024;
    for (const memoryMb of [...new Set([...MEMORY_SWEEP_MB, configured])].sort((a, b) => a - b)) {
      const point = memoryPoint(cpuPerUnit, memoryMb);
      const row: Row = {
        section,
        metric: `${memoryMb} MB${memoryMb === configured ? ' (configured)' : ''}: ${fmt.fixed(point.vcpu, 2)} vCPU, ${fmt.usd(point.usdPerUnit)} per ${unit} (CPU-bound, ${fmt.fixed(cpuPerUnit, 2)} CPU-s per ${unit})`,
        value: show(point.unitsPerSecond),
      };
      if (memoryMb === configured) Object.assign(row, { target: floorText, met: point.unitsPerSecond >= floor });
      rows.push(row);
    }
  };
  if (x) {
    const perMillion = (x.export.handlerCpuSeconds * 1_000_000) / Math.max(1, x.export.events);
    sweep('Memory: ExportPages', 'XrayExportPagesFunctionArn', perMillion, '1M events', (perSecond) => `${fmt.int(perSecond * 1_000_000)} ev/s`, THROUGHPUT_FLOORS.exportEventsPerSecond / 1_000_000, `≥ ${fmt.int(THROUGHPUT_FLOORS.exportEventsPerSecond)} ev/s`);
  }
  if (m) {
    const perGb = m.copy.copyCpuSeconds / (m.copy.bytes / 1e9);
    sweep('Memory: CopyReport', 'CopyReportFunctionArn', perGb, 'GB', (perSecond) => `${fmt.fixed(perSecond * 1000)} MB/s`, THROUGHPUT_FLOORS.copyMBps / 1000, `≥ ${THROUGHPUT_FLOORS.copyMBps} MB/s`);
  }
  return rows;
}

function bundleRows(bundles: BundleFigures[]): Row[] {
  const rows: Row[] = [];
  for (const bundle of bundles) {
    rows.push({ section: 'Bundles', metric: `${bundle.id} (${bundle.entry}) size`, value: fmt.mb(bundle.bytes), target: `≤ ${fmt.mb(TARGETS.bundleBytes)}`, met: bundle.bytes <= TARGETS.bundleBytes });
  }
  for (const bundle of bundles) {
    rows.push({
      section: 'Cold import',
      metric: `${bundle.id} (median of ${bundle.importRunsMs.length}; with --enable-source-maps ${fmt.int(bundle.importWithSourceMapsMs)} ms)`,
      value: `${fmt.int(bundle.importMs)} ms`,
      target: `≤ ${TARGETS.importMs} ms`,
      met: bundle.importMs <= TARGETS.importMs,
    });
  }
  return rows;
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = os.loadavg()[0]!;
  const bundle = config.bundledWorker ? await buildWorkerBundle() : undefined;
  const xray: XraySummary[] = [];
  const xrayRuns: XraySummary[][] = [];
  const mftRuns: MftSummary[] = [];
  let mft: MftSummary | undefined;
  let bundles: BundleFigures[] | undefined;
  try {
    // Cold imports first, on a machine not yet busy writing back and freeing the gigabytes the exports leave.
    if (!config.skip.has('bundles')) {
      log('bundles: esbuild and cold imports…');
      bundles = await measureBundles({ importRuns: config.importRuns });
    }
    for (const format of config.skip.has('xray') ? [] : config.xrayFormats) {
      const runs: XraySummary[] = [];
      for (let run = 1; run <= config.repeat; run++) {
        if (config.repeat > 1) log(`xray ${format}: run ${run} of ${config.repeat}`);
        runs.push(await benchXray(format, bundle, run));
      }
      xray.push(median(runs));
      xrayRuns.push(runs);
    }
    for (let run = 1; !config.skip.has('mft') && run <= config.repeat; run++) {
      if (config.repeat > 1) log(`mft: run ${run} of ${config.repeat}`);
      mftRuns.push(await benchMft(bundle, run));
    }
    if (mftRuns.length) mft = median(mftRuns);
  } finally {
    if (bundle) await rm(WORKER_BUNDLE, { force: true });
  }

  const rows = [
    ...xray.flatMap(xrayRows),
    ...(mft ? mftRows(mft) : []),
    ...memoryRows(xray.find((x) => x.format === 'json') ?? xray[0], mft),
    ...(bundles ? bundleRows(bundles) : []),
  ];
  const checks = rows.filter((row) => row.met !== undefined);
  const failed = checks.filter((row) => !row.met);
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${loadBefore.toFixed(2)} at start`;
  const repeated = config.repeat > 1 ? `; Xray and MFT figures: the median of ${config.repeat} runs` : '';
  process.stdout.write(`\naudit-export benchmark on the local twin (${machine}${repeated})\n\n${renderTable(rows)}\n\n`);
  process.stdout.write(`${checks.length - failed.length} of ${checks.length} targets met${failed.length ? `; missed: ${failed.map((row) => `${row.section}: ${row.metric.replace(/ \(.*$/, '')}`).join('; ')}` : ''}\n`);

  const summary = {
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadAverageAtStart: loadBefore },
    config: { ...config, skip: [...config.skip] },
    targets: TARGETS,
    met: Object.fromEntries(checks.map((row) => [`${row.section}: ${row.metric.replace(/ \(.*$/, '')}`, row.met])),
    allMet: failed.length === 0,
    xray: xray.map((x) => ({
      format: x.format,
      events: x.export.events,
      exportSeconds: x.export.seconds,
      eventsPerSecond: Math.round(x.eventsPerSecond),
      pullSeconds: x.pull.seconds,
      pullEventsPerSecond: Math.round(x.pullEventsPerSecond),
      pages: x.pull.pages,
      pageBytes: x.pull.bytes,
      ratio: round(x.ratio, 3),
      cpuRatio: round(x.cpuRatio, 3),
      cpuRatioRuns: xrayRuns[xray.indexOf(x)]!.map((run) => round(run.cpuRatio, 3)),
      handlerCpuSeconds: x.export.handlerCpuSeconds,
      threadCpuSeconds: { export: x.export.threadCpuSeconds, pull: x.pull.threadCpuSeconds },
      pullCpuSeconds: x.pull.cpuSeconds,
      peakRssBytes: peakRss(x.export.memory),
      memory: x.export.memory,
      pullMemory: x.pull.memory,
      lambdaInvocations: x.lambdaInvocations,
      taskInvocations: x.export.taskInvocations,
      exportPagesDurationsMs: (x.export.taskDurationsMs.XrayExportPagesFunctionArn ?? []).map((ms) => Math.round(ms)),
      stateTransitions: x.export.stateTransitions,
      transitionsPerMillionEvents: round(x.transitionsPerMillionEvents, 1),
      historyEvents: x.export.historyEvents,
      maxStatePayloadBytes: x.export.maxStatePayloadBytes,
      parts: x.export.parts,
      bytesStored: x.export.bytesStored,
      s3: x.export.s3,
      runCpuSeconds: x.export.runCpuSeconds,
      cost: x.cost,
      costPerMillionEventsUsd: x.costPerMillionEventsUsd,
      cpuSeconds: x.cpu,
      emulatorProcess: x.servers,
      s3Process: x.s3Server,
    })),
    mft: mft && {
      bytes: mft.copy.bytes,
      eventsPerHour: mft.eventsPerHour,
      copySeconds: mft.copy.copySeconds,
      copyMBps: round(mft.copyMBps, 1),
      downloadSeconds: mft.download.seconds,
      downloadMBps: round(mft.downloadMBps, 1),
      ratio: round(mft.ratio, 3),
      cpuRatio: round(mft.cpuRatio, 3),
      cpuRatioRuns: mftRuns.map((run) => round(run.cpuRatio, 3)),
      downloadCpuSeconds: mft.download.cpuSeconds,
      threadCpuSeconds: { copy: mft.copy.threadCpuSeconds, download: mft.download.threadCpuSeconds },
      peakRssBytes: peakRss(mft.copy.memory),
      memory: mft.copy.memory,
      downloadMemory: mft.download.memory,
      executionSeconds: mft.copy.executionSeconds,
      stateTransitions: mft.copy.stateTransitions,
      historyEvents: mft.copy.historyEvents,
      taskInvocations: mft.copy.taskInvocations,
      s3: mft.copy.s3,
      cpuSeconds: mft.cpu,
      copyCpuSeconds: mft.copy.copyCpuSeconds,
      cost: mft.cost,
    },
    bundles: bundles?.map((b) => ({ id: b.id, entry: b.entry, bytes: b.bytes, sourceMapBytes: b.sourceMapBytes, importMs: round(b.importMs, 1), importWithSourceMapsMs: round(b.importWithSourceMapsMs, 1), importRunsMs: b.importRunsMs, topInputs: b.topInputs })),
    memoryModel: {
      floors: THROUGHPUT_FLOORS,
      exportPages: xray[0] && MEMORY_SWEEP_MB.map((mb) => memoryPoint((xray[0]!.export.handlerCpuSeconds * 1_000_000) / Math.max(1, xray[0]!.export.events), mb)),
      copyReport: mft && MEMORY_SWEEP_MB.map((mb) => memoryPoint(mft!.copy.copyCpuSeconds / (mft!.copy.bytes / 1e9), mb)),
    },
    totalSeconds: round((performance.now() - started) / 1000, 1),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

await main();
