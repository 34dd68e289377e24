import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** The CLI as users start it. */
export const BIN = path.resolve('bin/audit-export.mjs');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Killed at the deadline: the process did not exit by itself. */
  killed: boolean;
}

/** Runs the CLI in a process of its own and collects what it printed; killed after `timeoutMs`. */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; onSpawn?: (child: ChildProcess) => void } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: options.env ?? process.env });
    options.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed });
    });
  });
}
