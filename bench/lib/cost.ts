/**
 * AWS list prices, us-east-1, used to estimate what a run would cost in AWS.
 * Sources (checked for this benchmark):
 *   Step Functions: https://aws.amazon.com/step-functions/pricing/  (Standard workflows: $0.025 per 1,000 state transitions)
 *   Lambda:         https://aws.amazon.com/lambda/pricing/          ($0.20 per 1M requests; Arm: $0.0000133334 per GB-second, first tier)
 *   S3:             https://aws.amazon.com/s3/pricing/              (S3 Standard: PUT, COPY, POST, LIST $0.005 per 1,000;
 *                                                                    GET and other requests $0.0004 per 1,000; DELETE free)
 * Free tiers are ignored; so is storage (it depends on retention, not on the run).
 */
export const SFN_STANDARD_USD_PER_TRANSITION = 0.025 / 1000;
export const LAMBDA_USD_PER_REQUEST = 0.2 / 1_000_000;
export const LAMBDA_ARM64_USD_PER_GB_SECOND = 0.0000133334;
export const S3_USD_PER_WRITE_REQUEST = 0.005 / 1000;
export const S3_USD_PER_READ_REQUEST = 0.0004 / 1000;
/** Priced as writes (PUT, COPY, POST, LIST); DELETE requests (DeleteObjects included) are free; the rest as reads. */
const S3_WRITE_COMMANDS = new Set([
  'PutObjectCommand',
  'UploadPartCommand',
  'CreateMultipartUploadCommand',
  'CompleteMultipartUploadCommand',
  'CopyObjectCommand',
  'ListObjectsCommand',
  'ListObjectsV2Command',
]);
const S3_FREE_COMMANDS = new Set(['DeleteObjectCommand', 'DeleteObjectsCommand', 'AbortMultipartUploadCommand']);

/**
 * Memory of each Lambda as the CDK app configures it (infra/sources/xray.ts, infra/sources/mft.ts: ExportPages
 * and CopyReport 1024 MB; every other function the 256 MB default of infra/constructs/source-export.ts).
 * Keyed by the ASL placeholder. README "Lambda memory" gives the model behind the two sizes.
 */
export const LAMBDA_MEMORY_MB: Record<string, number> = {
  XrayExportPagesFunctionArn: 1024,
  CopyReportFunctionArn: 1024,
};
export const DEFAULT_LAMBDA_MEMORY_MB = 256;

/**
 * Lambda gives CPU in proportion to memory: "At 1,769 MB, a function has the equivalent of one vCPU"
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
 */
export const LAMBDA_MB_PER_VCPU = 1769;
/** The timeout of the functions that move data (infra/sources/*.ts): Lambda's maximum. */
export const DATA_FUNCTION_TIMEOUT_SECONDS = 15 * 60;

/** Seconds a Lambda of `memoryMb` needs for work measured as `cpuSeconds` here, if the CPU is what bounds it. */
export function lambdaSecondsFor(cpuSeconds: number, memoryMb: number): number {
  return cpuSeconds / Math.min(1, memoryMb / LAMBDA_MB_PER_VCPU);
}

export interface CostEstimate {
  stateTransitionsUsd: number;
  lambdaRequestsUsd: number;
  lambdaComputeUsd: number;
  gbSeconds: number;
  /** Requests to the bucket, by the commands the handlers sent. */
  s3RequestsUsd: number;
  totalUsd: number;
}

/** Each handler call is billed as one request, its measured wall time (rounded up to 1 ms) at its configured memory. */
export function estimateCost(
  stateTransitions: number,
  taskDurationsMs: Record<string, number[]>,
  s3Commands: Record<string, { count: number }> = {},
): CostEstimate {
  let requests = 0;
  let gbSeconds = 0;
  for (const [placeholder, durations] of Object.entries(taskDurationsMs)) {
    const gb = (LAMBDA_MEMORY_MB[placeholder] ?? DEFAULT_LAMBDA_MEMORY_MB) / 1024;
    for (const ms of durations) {
      requests++;
      gbSeconds += (Math.ceil(ms) / 1000) * gb;
    }
  }
  const stateTransitionsUsd = stateTransitions * SFN_STANDARD_USD_PER_TRANSITION;
  const lambdaRequestsUsd = requests * LAMBDA_USD_PER_REQUEST;
  const lambdaComputeUsd = gbSeconds * LAMBDA_ARM64_USD_PER_GB_SECOND;
  let s3RequestsUsd = 0;
  for (const [command, { count }] of Object.entries(s3Commands)) {
    if (S3_FREE_COMMANDS.has(command)) continue;
    s3RequestsUsd += count * (S3_WRITE_COMMANDS.has(command) ? S3_USD_PER_WRITE_REQUEST : S3_USD_PER_READ_REQUEST);
  }
  return {
    stateTransitionsUsd,
    lambdaRequestsUsd,
    lambdaComputeUsd,
    gbSeconds,
    s3RequestsUsd,
    totalUsd: stateTransitionsUsd + lambdaRequestsUsd + lambdaComputeUsd + s3RequestsUsd,
  };
}

/**
 * Throughput floors the data functions' memory is chosen for (README "Lambda memory"): ExportPages keeps ahead
 * of the vendor (5 JSON pages of 2,000 a second, more than a vendor API serves one client); CopyReport copies a
 * 20 GB report (far beyond an hourly audit report) in half its 15-minute timeout: 20,000 MB / 450 s ≈ 45 MB/s.
 */
export const THROUGHPUT_FLOORS = { exportEventsPerSecond: 10_000, copyMBps: 45 };

/** Sizes around the knee (1,769 MB = one vCPU) that the memory model is evaluated at. */
export const MEMORY_SWEEP_MB = [512, 768, 1024, 1280, 1536, 1769, 2048];

export interface MemoryPoint {
  memoryMb: number;
  vcpu: number;
  /** Units (1,000,000 events; 1 GB) per second, if the CPU bounds the work. */
  unitsPerSecond: number;
  /** Lambda compute (arm64) per unit, billed for the CPU-bound duration. */
  usdPerUnit: number;
}

/**
 * The model: below 1,769 MB a function's CPU share is memory / 1,769 MB of a vCPU, so a CPU-bound unit of work
 * takes cpuSeconds / share and costs that × memory: flat per unit up to the knee, only throughput changes. Above
 * it the share passes one vCPU, which single-threaded JavaScript cannot use (zlib's thread pool a little), so the
 * cost per unit grows with memory.
 */
export function memoryPoint(cpuSecondsPerUnit: number, memoryMb: number): MemoryPoint {
  const seconds = lambdaSecondsFor(cpuSecondsPerUnit, memoryMb);
  return {
    memoryMb,
    vcpu: Math.min(1, memoryMb / LAMBDA_MB_PER_VCPU),
    unitsPerSecond: 1 / seconds,
    usdPerUnit: seconds * (memoryMb / 1024) * LAMBDA_ARM64_USD_PER_GB_SECOND,
  };
}
