/**
 * Lambda bundles: each entry of MFT_FUNCTIONS / XRAY_FUNCTIONS built with esbuild the way CDK's
 * NodejsFunction builds it (infra/constructs/source-export.ts: minified ESM for node22, AWS SDK bundled,
 * the createRequire banner), then imported by a fresh `node` process to time its cold start.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { MFT_FUNCTIONS } from '../functions/mft/handlers/index.js';
import { XRAY_FUNCTIONS } from '../functions/xray/handlers/index.js';
import { PROJECT_ROOT } from './lib/processes.js';

export interface BundleFigures {
  id: string;
  entry: string;
  /** The minified .mjs, what the Lambda loads. */
  bytes: number;
  /** The external source map CDK ships beside it (sourceMap: true). */
  sourceMapBytes: number;
  /** Largest contributors to the bundle, by package (or project directory), bytes in the output. */
  topInputs: { name: string; bytes: number }[];
  /** Median over the runs of `await import(bundle)` in a fresh process, ms. */
  importMs: number;
  /** The same with the Lambda's NODE_OPTIONS (--enable-source-maps, map present). */
  importWithSourceMapsMs: number;
  importRunsMs: number[];
}

const BANNER =
  "import { createRequire as __auditExportCreateRequire } from 'node:module'; const require = __auditExportCreateRequire(import.meta.url);";

const IMPORT_PROBE = `
const started = performance.now();
await import(process.argv[1]);
process.stdout.write(JSON.stringify({ importMs: performance.now() - started }) + '\\n');
`;

export async function measureBundles(options: { importRuns: number }): Promise<BundleFigures[]> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'audit-export-bench-bundles-'));
  try {
    const functions = [...Object.values(MFT_FUNCTIONS), ...Object.values(XRAY_FUNCTIONS)];
    const figures: BundleFigures[] = [];
    const outfiles: string[] = [];
    for (const fn of functions) {
      const outfile = path.join(directory, fn.id, 'index.mjs');
      const result = await esbuild.build({
        entryPoints: [path.join(PROJECT_ROOT, fn.entry)],
        bundle: true,
        minify: true,
        sourcemap: true,
        sourcesContent: false,
        platform: 'node',
        format: 'esm',
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: { js: BANNER },
        external: [],
        outfile,
        write: false,
        metafile: true,
        logLevel: 'silent',
      });
      let bytes = 0;
      let sourceMapBytes = 0;
      for (const file of result.outputFiles) {
        await mkdir(path.dirname(file.path), { recursive: true });
        await writeFile(file.path, file.contents);
        if (file.path.endsWith('.map')) sourceMapBytes += file.contents.length;
        else bytes += file.contents.length;
      }
      const byPackage = new Map<string, number>();
      for (const output of Object.values(result.metafile.outputs)) {
        for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
          const name = packageOf(input);
          byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
        }
      }
      const topInputs = [...byPackage]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([name, inputBytes]) => ({ name, bytes: inputBytes }));
      figures.push({ id: fn.id, entry: fn.entry, bytes, sourceMapBytes, topInputs, importMs: 0, importWithSourceMapsMs: 0, importRunsMs: [] });
      outfiles.push(outfile);
    }
    // Round-robin over the bundles, so a slow spell of the machine (other guests, the kernel writing back)
    // falls on all of them alike instead of on the few measured during it.
    const runs = figures.map(() => ({ plain: [] as number[], withMaps: [] as number[] }));
    for (let run = 0; run < options.importRuns; run++) {
      for (const [index, outfile] of outfiles.entries()) runs[index]!.plain.push(await importTime(outfile, false));
    }
    for (let run = 0; run < options.importRuns; run++) {
      for (const [index, outfile] of outfiles.entries()) runs[index]!.withMaps.push(await importTime(outfile, true));
    }
    for (const [index, figure] of figures.entries()) {
      figure.importMs = median(runs[index]!.plain);
      figure.importWithSourceMapsMs = median(runs[index]!.withMaps);
      figure.importRunsMs = runs[index]!.plain.map((ms) => Math.round(ms * 10) / 10);
    }
    return figures;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

function packageOf(input: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  if (match) return match[1]!;
  return input.split('/').slice(0, 2).join('/');
}

function importTime(file: string, sourceMaps: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = [...(sourceMaps ? ['--enable-source-maps'] : []), '--input-type=module', '-e', IMPORT_PROBE, pathToFileURL(file).href];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`importing ${file} exited with code ${code}`));
      resolve((JSON.parse(out.trim().split('\n').at(-1)!) as { importMs: number }).importMs);
    });
  });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
