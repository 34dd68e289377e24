import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import type { LocalRunResult } from '../../local/state-machine-runner.js';
import { startTwin, type Twin, type TwinOptions } from '../../local/twin.js';

/**
 * A twin per test, in a temporary directory of its own, closed and removed after each test of the file that
 * calls this (at its top level).
 */
export function temporaryTwins(name: string): (options: Omit<TwinOptions, 'directory'>) => Promise<Twin> {
  let twin: Twin | undefined;
  let directory: string | undefined;
  afterEach(async () => {
    await twin?.close();
    if (directory) await rm(directory, { recursive: true, force: true });
    twin = undefined;
    directory = undefined;
  });
  return async (options) => {
    directory = await mkdtemp(path.join(os.tmpdir(), `${name}-`));
    twin = await startTwin({ directory, ...options });
    return twin;
  };
}

/** The output of a run that must have succeeded (the error and cause shown when it did not). */
export function succeededOutput<T>(result: LocalRunResult): T {
  expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
  return result.output as T;
}
