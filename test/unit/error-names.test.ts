import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local/run-export.js';
import { classifyAwsError, ConfigError, TransientError } from '../../functions/common/errors.js';

/**
 * The Lambdas are minified (infra/constructs/audit-function.ts), which renames classes. Step Functions branches
 * on `errorType`, the thrown error's `name`: these tests build the error classes the way CDK bundles them and
 * check every name is still the one the ASL files and run records use.
 */

/** Every module of the Lambdas' code that may export an error class of its own (errors.ts and wherever else one is declared). */
async function modulesWithErrorClasses(): Promise<string[]> {
  const modules: string[] = [];
  for (const entry of await readdir(path.join(PROJECT_ROOT, 'functions'), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = path.relative(PROJECT_ROOT, path.join(entry.parentPath, entry.name));
    // Every module exporting a subclass of anything: the test below keeps the classes that are errors, whatever
    // their base is called (`Error` itself, a class of errors.ts, one of another module).
    if (/export (?:abstract )?class \w+ extends /.test(await readFile(path.join(PROJECT_ROOT, file), 'utf8'))) modules.push(file);
  }
  return modules.sort();
}

let MODULES: string[];
let directory: string;
let bundled: Record<string, unknown>;

beforeAll(async () => {
  MODULES = await modulesWithErrorClasses();
  directory = await mkdtemp(path.join(os.tmpdir(), 'error-names-'));
  const entry = MODULES.map((file, index) => `export * as m${index} from ${JSON.stringify(path.join(PROJECT_ROOT, file))};`).join('\n');
  const result = await esbuild.build({
    stdin: { contents: entry, resolveDir: PROJECT_ROOT, loader: 'ts' },
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    write: false,
    logLevel: 'silent',
  });
  const file = path.join(directory, 'errors.mjs');
  await writeFile(file, result.outputFiles[0]!.contents);
  bundled = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}, 120_000);

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('error names in a minified bundle', () => {
  it('every exported error class keeps its own name', () => {
    const checked: string[] = [];
    for (const [index] of MODULES.entries()) {
      const namespace = bundled[`m${index}`] as Record<string, unknown>;
      for (const [exportName, value] of Object.entries(namespace)) {
        if (typeof value !== 'function' || !(value.prototype instanceof Error)) continue;
        const ErrorClass = value as new (message: string, second?: unknown) => Error;
        expect(new ErrorClass('what failed', 400).name, exportName).toBe(exportName);
        checked.push(exportName);
      }
    }
    expect(checked).toEqual(
      expect.arrayContaining(['TransientError', 'IntegrityError', 'VendorAuthError', 'LeaseLostError', 'AccessTokenRejectedError', 'DownloadRefusedError', 'GridChangeError', 'GridConflictError']),
    );
  });
});

describe('AWS throttling', () => {
  const sdkError = (name: string, status: number) =>
    Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status }, $fault: 'client' });

  it.each(['ThrottlingException', 'SlowDown', 'ProvisionedThroughputExceededException', 'TooManyRequestsException'])(
    '%s becomes a TransientError that keeps the AWS error as its cause',
    (name) => {
      const original = sdkError(name, 400);
      const classified = classifyAwsError(original) as TransientError;
      expect(classified).toBeInstanceOf(TransientError);
      expect(classified.name).toBe('TransientError');
      expect(classified.message).toContain(name);
      expect(classified.cause).toBe(original);
    },
  );

  it('a 5xx from an AWS service is transient; access denied, a missing key and our own errors stay as they are', () => {
    expect(classifyAwsError(sdkError('InternalError', 500))).toBeInstanceOf(TransientError);
    const denied = sdkError('AccessDeniedException', 403);
    expect(classifyAwsError(denied)).toBe(denied);
    const missing = sdkError('NoSuchKey', 404);
    expect(classifyAwsError(missing)).toBe(missing);
    const own = new ConfigError('bad');
    expect(classifyAwsError(own)).toBe(own);
    const plain = new Error('a bug');
    expect(classifyAwsError(plain)).toBe(plain);
  });
});

describe('the handler wrapper', () => {
  it('turns throttling that outlived the SDK retries into a TransientError, so the Retry blocks match it', async () => {
    const { observe, silentLogger } = await import('../../functions/common/observability.js');
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
    const handler = observe('mft', 'PlanExport', async () => {
      throw throttled;
    }, () => silentLogger);
    await expect(handler({})).rejects.toMatchObject({ name: 'TransientError', cause: throttled });
  });
});
