/** What the benchmark's child processes tell bench/run.ts, one JSON line each. */

export interface ServersReady {
  s3?: { endpoint: string; bucket: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  xray?: { baseUrl: string; accessToken: string };
  mft?: { baseUrl: string; tokenUrl: string; downloadBaseUrl: string; tenantId: string; kid: string; privateKeyPem: string };
}

/** One request the Xray emulator served, as its request log records it (never credentials). */
export interface XrayRequest {
  method: string;
  path: string;
  query: string;
  status: number;
}

export interface ServerStats {
  cpuSeconds: number;
  maxRssBytes: number;
}

/** Memory of a measured process: the kernel's peak (getrusage ru_maxrss) and the highest sampled RSS. */
export interface MemoryFigures {
  /** RSS once the modules are loaded, before the measured work starts. */
  baselineRssBytes: number;
  /** process.resourceUsage().maxRSS, the kernel's high-water mark for the whole process life. */
  maxRssBytes: number;
  /** Highest process.memoryUsage().rss seen by a 50 ms sampler. */
  sampledPeakRssBytes: number;
  /** Highest V8 heap + external + array buffers seen by the sampler (what the JS side holds). */
  sampledPeakHeapBytes: number;
  cpuSeconds: number;
}

export interface XrayExportResult {
  kind: 'xray-export';
  format: 'json' | 'csv';
  status: string;
  error?: string;
  /** CPU-seconds of the process from the start to the end of the execution (handlers, engine, zlib threads). */
  runCpuSeconds: number;
  /** CPU-seconds of the process while at least one handler call was in flight: the handlers' own, not the engine's. */
  handlerCpuSeconds: number;
  events: number;
  parts: number;
  bytesStored: number;
  seconds: number;
  windows: number;
  splits: number;
  /** Task states entered, per state name (each is one Lambda invocation). */
  taskInvocations: Record<string, number>;
  /** Wall time of each handler call, per state name, in ms. */
  taskDurationsMs: Record<string, number[]>;
  stateTransitions: number;
  historyEvents: number;
  /** The largest state payload (input or output of any state), in bytes of JSON. */
  maxStatePayloadBytes: number;
  s3: S3Timing;
  memory: MemoryFigures;
  /** CPU-seconds per thread name over the measured phase (Linux; `threadCpuSeconds` in bench/lib/measure.ts). */
  threadCpuSeconds?: Record<string, number>;
}

export interface XrayPullResult {
  kind: 'xray-pull';
  pages: number;
  bytes: number;
  seconds: number;
  /** CPU-seconds of the pulling loop alone (not the process's start). */
  cpuSeconds: number;
  memory: MemoryFigures;
  /** CPU-seconds per thread name over the measured phase (Linux; `threadCpuSeconds` in bench/lib/measure.ts). */
  threadCpuSeconds?: Record<string, number>;
}

export interface MftCopyResult {
  kind: 'mft-copy';
  status: string;
  error?: string;
  bytes: number;
  /** CopyReportToS3: from its StateEntered to its StateExited. */
  copySeconds: number;
  /** The whole execution, report generation and polling included. */
  executionSeconds: number;
  /** CPU-seconds of the process during the CopyReport handler call(s). */
  copyCpuSeconds: number;
  stateTransitions: number;
  historyEvents: number;
  taskInvocations: Record<string, number>;
  taskDurationsMs: Record<string, number[]>;
  s3: S3Timing;
  memory: MemoryFigures;
  /** CPU-seconds per thread name over the measured phase (Linux; `threadCpuSeconds` in bench/lib/measure.ts). */
  threadCpuSeconds?: Record<string, number>;
}

export interface MftDownloadResult {
  kind: 'mft-download';
  bytes: number;
  seconds: number;
  /** CPU-seconds of the GET alone (not the process's start, nor creating and polling the report). */
  cpuSeconds: number;
  /** Creating the report and waiting for it (the emulator's measuring pass); not part of `seconds`. */
  preparationSeconds: number;
  memory: MemoryFigures;
  /** CPU-seconds per thread name over the measured phase (Linux; `threadCpuSeconds` in bench/lib/measure.ts). */
  threadCpuSeconds?: Record<string, number>;
}

/** Time spent in S3 commands, per command name (the twin's s3rver does real disk work in some). */
export type S3Timing = Record<string, { count: number; totalMs: number; maxMs: number }>;

export type WorkerResult = XrayExportResult | XrayPullResult | MftCopyResult | MftDownloadResult;
