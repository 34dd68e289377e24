import { ConfigError } from '../functions/common/errors.js';
import { UsageError } from './usage.js';

/**
 * Which instance of a source a command works on. Several instances of a source (config `sources.<source>` as a
 * list) are named:
 * - with `--target aws`, by the stack output `<SOURCE>StateMachineArns`, exported as `<SOURCE>_STATE_MACHINE_ARNS`
 *   (JSON `{"<instance>": "<state machine arn>"}`); a single-object source has `<SOURCE>_STATE_MACHINE_ARN` only;
 * - otherwise by `<SOURCE>_INSTANCES` (comma-separated names), each instance's settings being the usual variables
 *   prefixed with its name in capitals and `__` (`EU__MFT_TENANT_ID`), over the unprefixed ones they share.
 * Without any of these there is one instance, `default`. `--instance` picks one; without it the only one is
 * taken, and several are an error that lists them.
 */
export interface ChosenInstance {
  name: string;
  /** The environment the instance runs with (its prefixed variables applied, its state machine ARN for aws). */
  env: NodeJS.ProcessEnv;
  /** Every instance named by the environment (the twin starts an emulator for each); absent when none is. */
  named?: string[];
}

export const DEFAULT_INSTANCE = 'default';
const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

export function instancesVariable(source: 'mft' | 'xray'): string {
  return `${source.toUpperCase()}_INSTANCES`;
}

export function stateMachineArnsVariable(source: 'mft' | 'xray'): string {
  return `${source.toUpperCase()}_STATE_MACHINE_ARNS`;
}

/** The prefix of an instance's own variables: `EU__`, `ON_PREM__`. */
export function instancePrefix(name: string): string {
  return `${name.toUpperCase().replace(/-/g, '_')}__`;
}

export function chooseInstance(source: 'mft' | 'xray', target: string, requested: string | undefined, env: NodeJS.ProcessEnv = process.env): ChosenInstance {
  if (target === 'aws') {
    const variable = stateMachineArnsVariable(source);
    const text = env[variable];
    if (!text) return { name: pick(source, [DEFAULT_INSTANCE], requested, `${variable} is not set: the stack has one ${source} instance`), env };
    let arns: Record<string, unknown>;
    try {
      arns = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new ConfigError(`${variable} is not JSON: set it to the stack output ${source === 'mft' ? 'Mft' : 'Xray'}StateMachineArns as it is`);
    }
    if (!arns || typeof arns !== 'object' || Array.isArray(arns) || Object.values(arns).some((arn) => typeof arn !== 'string')) {
      throw new ConfigError(`${variable} must be a JSON object of instance names and state machine ARNs (the stack output)`);
    }
    const name = pick(source, Object.keys(arns), requested, `from ${variable}`);
    return { name, env: { ...env, [`${source.toUpperCase()}_STATE_MACHINE_ARN`]: arns[name] as string }, named: Object.keys(arns) };
  }
  const variable = instancesVariable(source);
  const list = env[variable];
  if (!list) return { name: pick(source, [DEFAULT_INSTANCE], requested, `${variable} is not set: one ${source} instance`), env };
  const names = list.split(',').map((name) => name.trim()).filter(Boolean);
  const bad = names.find((name) => !NAME.test(name) || name.length > 16);
  if (bad !== undefined || names.length === 0 || new Set(names).size !== names.length) {
    throw new ConfigError(`${variable} must list distinct instance names (lower-case letters, digits, single hyphens, at most 16 characters), comma-separated`);
  }
  const name = pick(source, names, requested, `from ${variable}`);
  const prefix = instancePrefix(name);
  const own = Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith(prefix)).map(([key, value]) => [key.slice(prefix.length), value]));
  return { name, env: { ...env, ...own }, named: names };
}

function pick(source: string, names: string[], requested: string | undefined, where: string): string {
  if (requested !== undefined) {
    if (names.includes(requested)) return requested;
    throw new UsageError(`--instance ${requested}: no such ${source} instance (${where}: ${names.join(', ')})`);
  }
  if (names.length === 1) return names[0]!;
  throw new UsageError(`${source} has several instances (${names.join(', ')}): choose one with --instance`);
}
