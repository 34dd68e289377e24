import { z } from 'zod';
import { ConfigError } from './errors.js';
import { describeIssues } from './validation.js';

/**
 * Reads typed settings from environment variables (how Lambda gets its configuration), failing with a
 * message that names each missing or malformed variable and what it should hold.
 */
export function readEnvironment<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv, what: string): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(`Configuration of ${what} is invalid: ${describeIssues(result.error.issues)}`);
}

export const httpUrl = (example: string) =>
  z
    .string({ message: `is required (e.g. ${example})` })
    .url(`must be an http(s) URL, e.g. ${example}`)
    .refine((value) => /^https?:\/\//.test(value), `must be an http(s) URL, e.g. ${example}`);

export const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value));

export const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''])
  .optional()
  .transform((value) => value === 'true' || value === '1');

/** Memoizes an async factory (one per Lambda container), forgetting a failure so the next call retries. */
export function lazy<T>(factory: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= factory().catch((error: unknown) => {
      value = undefined;
      throw error;
    });
    return value;
  };
}
