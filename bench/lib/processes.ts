import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServersReady, ServerStats, WorkerResult, XrayRequest } from './protocol.js';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const PROJECT_ROOT = path.resolve(BENCH_DIR, '..');
export const WORKER_BUNDLE = path.join(BENCH_DIR, '.worker.bundle.mjs');

/** `node --import tsx <script> <json>`, with the same Node binary (npm puts the pinned Node 22 first on PATH). */
function spawnTs(script: string, argument: unknown, extraNodeArgs: string[] = []): ChildProcess {
  return spawn(process.execPath, [...extraNodeArgs, '--import', 'tsx', path.join(BENCH_DIR, script), JSON.stringify(argument)], {
    cwd: PROJECT_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/** Yields the child's stdout lines that are JSON objects; other lines are passed through to stderr. */
async function* jsonLines(child: ChildProcess): AsyncGenerator<Record<string, unknown>> {
  for await (const line of createInterface({ input: child.stdout! })) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('{')) {
      if (trimmed) process.stderr.write(`  | ${trimmed}\n`);
      continue;
    }
    yield JSON.parse(trimmed) as Record<string, unknown>;
  }
}

export interface RunningServers {
  ready: ServersReady;
  /** The Xray emulator's requests since the previous call. */
  xrayRequests(): Promise<XrayRequest[]>;
  /** The servers' CPU time so far (user + system seconds). */
  cpuSeconds(): Promise<number>;
  /** Closes the servers and returns their own CPU time and peak RSS. */
  stop(): Promise<ServerStats | undefined>;
}

export async function startServers(options: unknown): Promise<RunningServers> {
  const child = spawnTs('servers.ts', options);
  const lines = jsonLines(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const first = await Promise.race([lines.next(), exited.then(() => undefined)]);
  if (!first || first.done || !first.value.ready) {
    child.kill();
    throw new Error('bench/servers.ts did not start');
  }
  return {
    ready: first.value.ready as ServersReady,
    async xrayRequests() {
      child.stdin!.write('xray-requests\n');
      for (;;) {
        const next = await lines.next();
        if (next.done) throw new Error('bench/servers.ts exited');
        if (next.value.xrayRequests) return next.value.xrayRequests as XrayRequest[];
      }
    },
    async cpuSeconds() {
      child.stdin!.write('cpu\n');
      for (;;) {
        const next = await lines.next();
        if (next.done) throw new Error('bench/servers.ts exited');
        if (typeof next.value.cpuSeconds === 'number') return next.value.cpuSeconds;
      }
    },
    async stop() {
      child.stdin!.end();
      let stats: ServerStats | undefined;
      for await (const line of lines) if (line.stats) stats = line.stats as ServerStats;
      await exited;
      return stats;
    },
  };
}

/**
 * bench/worker.ts bundled with esbuild into one .mjs, so the measured process runs plain `node` like a
 * Lambda does: no tsx loader (its module hooks run on a thread of their own, with their own heap) and
 * no on-the-fly TypeScript compilation in its RSS and CPU time.
 */
export async function buildWorkerBundle(entry = 'worker.ts', outfile = WORKER_BUNDLE): Promise<string> {
  const esbuild = await import('esbuild');
  // In bench/, one level below the project root, because local/run-export.ts finds state-machines/ from
  // its own import.meta.url. Deleted by bench/run.ts when it is done (and git-ignored).
  await esbuild.build({
    entryPoints: [path.join(BENCH_DIR, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    banner: { js: "import { createRequire as __benchCreateRequire } from 'node:module'; const require = __benchCreateRequire(import.meta.url);" },
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

/** Runs bench/worker.ts (or its bundle) with a task, sent on its stdin; its last JSON line is the result. */
export async function runWorker<T extends WorkerResult>(task: unknown, options: { bundle?: string; nodeArgs?: string[] } = {}): Promise<T> {
  const child = options.bundle
    ? spawn(process.execPath, [...(options.nodeArgs ?? []), options.bundle], { cwd: PROJECT_ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', path.join(BENCH_DIR, 'worker.ts')], {
        cwd: PROJECT_ROOT,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
  child.stdin!.end(JSON.stringify(task));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let last: Record<string, unknown> | undefined;
  for await (const line of jsonLines(child)) last = line;
  const code = await exited;
  if (code !== 0 || !last) throw new Error(`bench/worker.ts ${(task as { mode?: string }).mode} exited with code ${code}`);
  return last as unknown as T;
}
