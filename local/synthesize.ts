import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT } from './run-export.js';
import { readCloudAssembly, type CloudAssembly } from './deployed-stack.js';

/** The context of cdk.json (feature flags and the default configuration), as `cdk synth` sees it. */
export async function cdkJsonContext(): Promise<Record<string, unknown>> {
  return (JSON.parse(await readFile(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
}

/**
 * Synthesizes the stack as `cdk synth` does (the Lambdas bundled by esbuild, cdk-nag checks included) into
 * `outdir`, with `config` instead of cdk.json's configuration when given.
 */
export async function synthesizeStack(outdir: string, config?: unknown): Promise<CloudAssembly> {
  const [{ buildApp }, { parseConfig }] = await Promise.all([import('../infra/app.js'), import('../infra/config.js')]);
  // As the CDK CLI does: resources carry their construct path (the twin finds secrets and buckets by it).
  const context = { ...(await cdkJsonContext()), 'aws:cdk:enable-path-metadata': true };
  const { app, config: resolved } = buildApp({ outdir, context }, config === undefined ? undefined : parseConfig(config));
  app.synth();
  return readCloudAssembly(outdir, resolved.stackName);
}

/** What a synthesized assembly depends on: the sources, the ASL files, the lock file, cdk.json and the config. */
async function inputsHash(config: unknown): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(config ?? null));
  const files: string[] = ['package-lock.json', 'cdk.json', 'local/synthesize.ts'];
  for (const folder of ['functions', 'infra', 'state-machines']) {
    for (const entry of await readdir(path.join(PROJECT_ROOT, folder), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) files.push(path.relative(PROJECT_ROOT, path.join(entry.parentPath, entry.name)));
    }
  }
  for (const file of files.sort()) hash.update(file).update('\0').update(await readFile(path.join(PROJECT_ROOT, file))).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/**
 * A synthesized assembly for these sources and this config, built once and shared by every test process
 * (synthesis with bundling takes 25-55 s): kept under node_modules/.cache by a hash of its inputs, built under
 * a lock directory so concurrent callers wait for one build.
 */
export async function cachedAssembly(config?: unknown): Promise<CloudAssembly> {
  const cache = path.join(PROJECT_ROOT, 'node_modules', '.cache', 'audit-export');
  const directory = path.join(cache, `assembly-${await inputsHash(config)}`);
  const lock = `${directory}.lock`;
  await mkdir(cache, { recursive: true });
  for (;;) {
    if (existsSync(path.join(directory, 'manifest.json'))) {
      const now = new Date();
      await utimes(directory, now, now).catch(() => undefined);
      return readCloudAssembly(directory);
    }
    try {
      await mkdir(lock);
    } catch {
      // Someone else is building it; a lock older than 5 minutes belongs to a build that died.
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 300_000) await rm(lock, { recursive: true, force: true });
      await sleep(500);
      continue;
    }
    try {
      await pruneAssemblies(cache, directory);
      const building = `${directory}.building-${process.pid}`;
      await rm(building, { recursive: true, force: true });
      await synthesizeStack(building, config);
      await writeFile(path.join(building, 'inputs.json'), JSON.stringify({ config: config ?? null }, null, 2));
      await rm(directory, { recursive: true, force: true });
      await rename(building, directory);
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  }
}

/** Assemblies of other inputs not used for a day go (each holds every bundle, ~12 MB). */
async function pruneAssemblies(cache: string, keep: string): Promise<void> {
  for (const entry of await readdir(cache)) {
    const dir = path.join(cache, entry);
    if (!entry.startsWith('assembly-') || dir === keep || entry.endsWith('.lock')) continue;
    const age = await stat(dir).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > 86_400_000) await rm(dir, { recursive: true, force: true });
  }
}
