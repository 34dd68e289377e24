import { parseArgs, type ParseArgsConfig } from 'node:util';
import { scrub, scrubber } from '../functions/common/scrubber.js';

/**
 * Exit codes, documented in the README: 0 ok, 1 the job failed, 2 bad usage or configuration, 3 skipped (another
 * execution holds the lease of the windows: nothing was exported, nothing failed).
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_SKIPPED = 3;

/** A mistake in how the command was called; printed with a hint, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with messages a person can act on. */
/** The options of every command that runs or reaches an export: where (--target), how to report (--json), which twin. */
export const TARGET_OPTIONS = {
  target: { type: 'string' },
  /** Which instance of the source (cli/instances.ts). */
  instance: { type: 'string' },
  json: { type: 'boolean' },
  'twin-dir': { type: 'string' },
} as const;

export function parseCommandArgs<O extends Options>(args: string[], options: O, command: string) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(message, `see \`audit-export ${command} --help\``);
  }
}

export function parseInteger(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return Number(value);
}

/**
 * The errors that mean "the request or the configuration is wrong" wherever they are raised (here, or by a
 * step of the execution, e.g. the planner): exit 2, not 1, since running it again as it is cannot help.
 */
const USAGE_ERRORS = new Set(['InvalidInputError', 'ConfigError', 'GridChangeError', 'GridConflictError']);

/**
 * The exit code of a finished run: 0 succeeded, 3 skipped (the execution succeeded with output status SKIPPED:
 * another one holds the lease of its windows), 2 refused as bad input or configuration, 1 failed.
 */
export function exitCodeOf(summary: { status: string; error?: string }): number {
  if (summary.status === 'SUCCEEDED') return EXIT_OK;
  if (summary.status === 'SKIPPED') return EXIT_SKIPPED;
  return summary.error && USAGE_ERRORS.has(summary.error) ? EXIT_USAGE : EXIT_FAILED;
}

/** Writes one line to stdout (machine output) or stderr (human progress when --json is on); both scrubbed. */
export interface Output {
  json: boolean;
  /** Human progress and results: stdout normally, stderr under --json so stdout stays machine-readable. */
  info(line: string): void;
  /** The machine-readable result, the last line of stdout, under --json only. */
  result(value: unknown): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    info: (line) => (json ? process.stderr : process.stdout).write(`${scrub(line)}\n`),
    result: (value) => {
      if (json) process.stdout.write(`${scrubber.scrubJson(JSON.stringify(value))}\n`);
    },
  };
}
