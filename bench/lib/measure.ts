import { readdirSync, readFileSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ExecutionEvent } from '../../local/state-machine-runner.js';
import type { MemoryFigures, S3Timing } from './protocol.js';

/**
 * Memory of this process while it works: the kernel's high-water mark (ru_maxrss, which also sees
 * short spikes between samples) and a 50 ms sampler (which also tells how much of it the JS side held).
 */
export class MemorySampler {
  private readonly baselineRssBytes = process.memoryUsage.rss();
  private peakRss = this.baselineRssBytes;
  private peakHeap = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 50) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const usage = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, usage.rss);
    // arrayBuffers is a part of external: counting both would count Buffers twice.
    this.peakHeap = Math.max(this.peakHeap, usage.heapUsed + usage.external);
  }

  stop(): MemoryFigures {
    this.sample();
    clearInterval(this.timer);
    const usage = process.resourceUsage();
    return {
      baselineRssBytes: this.baselineRssBytes,
      maxRssBytes: usage.maxRSS * 1024,
      sampledPeakRssBytes: this.peakRss,
      sampledPeakHeapBytes: this.peakHeap,
      cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
    };
  }
}

/**
 * CPU-seconds of this process's threads so far, by thread name (Linux: /proc/self/task/<tid>/stat, in clock
 * ticks of 10 ms): the main thread ("node" or the script's name), libuv's pool (zlib, crypto: "libuv-worker"),
 * V8's helpers (concurrent marking and sweeping: "V8 DefaultWorke"), … Empty elsewhere.
 */
export function threadCpuSeconds(): Record<string, number> {
  const byName: Record<string, number> = {};
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
      const key = tid === String(process.pid) ? 'main' : name;
      byName[key] = (byName[key] ?? 0) + ticks / 100;
    }
  } catch {
    // not Linux
  }
  return byName;
}

/** Times every command the client sends, by command name (the same client the handlers use). */
export function timeS3Commands(s3: S3Client): S3Timing {
  const timing: S3Timing = {};
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      const started = performance.now();
      try {
        return await next(args);
      } finally {
        const name = String((context as { commandName?: string }).commandName ?? 'unknown');
        const ms = performance.now() - started;
        const entry = (timing[name] ??= { count: 0, totalMs: 0, maxMs: 0 });
        entry.count++;
        entry.totalMs += ms;
        entry.maxMs = Math.max(entry.maxMs, ms);
      }
    },
    { step: 'initialize', name: 'benchS3Timing' },
  );
  return timing;
}

/**
 * Wraps each Task handler to record the wall time of every call (what Lambda would bill as duration) and the
 * process's CPU time meanwhile (exact for a call that runs alone, e.g. MFT's CopyReport; calls that overlap,
 * like the Xray Map's, each count the others' CPU too). `busyCpuSeconds()` is the process's CPU while at
 * least one handler call is in flight: the handlers' own work (zlib's threads included), without the local
 * engine's between the calls (parsing and validating the ASL, choices, history), which in AWS is not on a
 * Lambda's CPU.
 */
export function handlerTimer(): {
  durationsMs: Record<string, number[]>;
  cpuMs: Record<string, number[]>;
  results: Record<string, unknown[]>;
  busyCpuSeconds: () => number;
  decorate: (placeholder: string, handler: (input: unknown) => Promise<unknown>) => (input: unknown) => Promise<unknown>;
} {
  const durationsMs: Record<string, number[]> = {};
  const cpuMs: Record<string, number[]> = {};
  const results: Record<string, unknown[]> = {};
  let inFlight = 0;
  let busySince: NodeJS.CpuUsage | undefined;
  let busyMicros = 0;
  const cpuMicros = (usage: NodeJS.CpuUsage) => usage.user + usage.system;
  return {
    durationsMs,
    cpuMs,
    results,
    busyCpuSeconds: () => (busyMicros + (busySince ? cpuMicros(process.cpuUsage(busySince)) : 0)) / 1e6,
    decorate: (placeholder, handler) => async (input) => {
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      if (inFlight++ === 0) busySince = cpuBefore;
      try {
        const result = await handler(input);
        (results[placeholder] ??= []).push(result);
        return result;
      } finally {
        (durationsMs[placeholder] ??= []).push(performance.now() - started);
        const cpu = process.cpuUsage(cpuBefore);
        (cpuMs[placeholder] ??= []).push(cpuMicros(cpu) / 1000);
        if (--inFlight === 0) {
          busyMicros += cpuMicros(process.cpuUsage(busySince));
          busySince = undefined;
        }
      }
    },
  };
}

/** Task states entered, per state name: each is one Lambda invocation (retries are separate attempts). */
export function taskInvocations(events: ExecutionEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const event of events) {
    if (event.type === 'StateEntered' && event.state?.type === 'Task') counts[event.state.name] = (counts[event.state.name] ?? 0) + 1;
  }
  return counts;
}

/** Seconds between a state's first StateEntered and its last StateExited in the event log. */
export function stateSeconds(events: ExecutionEvent[], stateName: string): number {
  const entered = events.find((event) => event.type === 'StateEntered' && event.state?.name === stateName);
  const exited = events.findLast((event) => event.type === 'StateExited' && event.state?.name === stateName);
  if (!entered || !exited) return Number.NaN;
  return (exited.timestamp - entered.timestamp) / 1000;
}

export function maxStatePayloadBytes(events: ExecutionEvent[]): number {
  let max = 0;
  for (const event of events) {
    for (const value of [event.state?.input, event.state?.output, event.input, event.output]) {
      if (value !== undefined) max = Math.max(max, JSON.stringify(value).length);
    }
  }
  return max;
}
