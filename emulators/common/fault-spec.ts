/**
 * The compact fault grammar of `audit-export emulate --faults`, turned into fault rules for each emulator.
 *
 *   SPEC     := ITEM (',' ITEM)*
 *   ITEM     := TARGET ['.' METHOD] [PATH] ['?offset=' N] ':' FAULT MODIFIER*
 *   TARGET   := api | token | storage | mft (any MFT listener) | xray
 *   FAULT    := STATUS ['/' RETRY_AFTER_SECONDS] ['.html' | '.json']      STATUS: 429 500 502 503 504
 *             | reset | hang | delay@MS | truncate@BYTES
 *             | failed | never-completes | short | expire-tokens          (MFT reports/tokens: api or mft)
 *             | empty-page | no-next-offset                              (Xray JSON pages: xray)
 *   MODIFIER := 'x' N            at most N times (default: every matching request)
 *             | '+' N            let the first N matching requests through
 *             | '~' P            with probability P (0..1), seeded
 *             | '#' N ['-' M]    only attempt N (to M) of each identical request (1 = first try, 2 = first retry)
 *
 * e.g. `api:503x3,storage:truncate@1000x1,xray:429/2x5,xray:reset~0.02,xray?offset=2000:503#1-2,api:expire-tokens+4x1`
 */
import {
  FAULT_STATUSES,
  RANDOM_FAULT_KINDS,
  type Fault,
  type FaultMatch,
  type FaultRule,
  type FaultServer,
  type FaultStatus,
  type RandomFaultKind,
} from './faults.js';

export const FAULT_SPEC_GRAMMAR = `ITEM[,ITEM...] with ITEM = TARGET[.METHOD][/path][?offset=N]:FAULT[xN][+N][~P][#N[-M]]
  TARGET  api | token | storage | mft | xray
  FAULT   429|500|502|503|504[/RETRY_AFTER_S][.html] | reset | hang | delay@MS | truncate@BYTES
          | failed | never-completes | short | expire-tokens   (MFT only)
          | empty-page | no-next-offset   (Xray only)
  xN at most N times, +N skip the first N, ~P probability P, #N[-M] only attempt N..M of an identical request`;

/** A fault spec that does not parse; the message names the item and what is wrong with it. */
export class FaultSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultSpecError';
  }
}

export interface ParsedFaultSpec {
  mft: FaultRule[];
  xray: FaultRule[];
}

const ITEM = /^(api|token|storage|mft|xray)(?:\.([A-Za-z]+))?(\/[^?:]*)?(?:\?offset=(\d+))?:(.+)$/;
const STATUS_FAULT = /^(\d{3})(?:\/(\d+))?(?:\.(html|json))?/;
const WORD_FAULT = /^(reset|hang|never-completes|failed|short|expire-tokens|empty-page|no-next-offset|delay@(\d+)|truncate@(\d+))/;
const MODIFIER = /^(?:x(\d+)|\+(\d+)|~(\d*\.?\d+)|#(\d+)(?:-(\d+))?)/;
const TARGETS = new Set(['api', 'token', 'storage', 'mft', 'xray']);
const MFT_ONLY = new Set(['failed', 'never-completes', 'short', 'expire-tokens']);
const XRAY_ONLY = new Set(['empty-page', 'no-next-offset']);

/** Parses a `--faults` value; `seed` seeds the rules that have a probability. Throws FaultSpecError. */
export function parseFaultSpec(spec: string, seed = 1): ParsedFaultSpec {
  const parsed: ParsedFaultSpec = { mft: [], xray: [] };
  const items = spec.split(',').map((item) => item.trim());
  if (items.every((item) => item === '')) throw new FaultSpecError('empty fault spec');
  for (const [index, item] of items.entries()) {
    if (item === '') throw new FaultSpecError(`empty item #${index + 1} in fault spec (two commas in a row?)`);
    const { emulator, rule } = parseItem(item, seed);
    parsed[emulator].push(rule);
  }
  return parsed;
}

function parseItem(item: string, seed: number): { emulator: 'mft' | 'xray'; rule: FaultRule } {
  const fail = (why: string): never => {
    throw new FaultSpecError(`bad fault "${item}": ${why}`);
  };
  const head = ITEM.exec(item);
  if (!head) {
    const target = /^[^.:/?]*/.exec(item)![0];
    return fail(
      item.includes(':') && !TARGETS.has(target)
        ? `the target must be api, token, storage, mft or xray, not "${target}"`
        : 'expected TARGET[.METHOD][/path][?offset=N]:FAULT, e.g. xray:503x3',
    );
  }
  const [, target = '', method, path, offset, rest = ''] = head;
  const emulator = target === 'xray' ? 'xray' : 'mft';
  if (offset !== undefined && target !== 'xray') fail('?offset= only applies to xray');

  let remaining = rest;
  let fault: Fault;
  const status = STATUS_FAULT.exec(remaining);
  const word = status ? null : WORD_FAULT.exec(remaining);
  if (status) {
    const code = Number(status[1]);
    if (!(FAULT_STATUSES as readonly number[]).includes(code)) fail(`status must be one of ${FAULT_STATUSES.join(', ')}`);
    fault = {
      kind: 'status',
      status: code as FaultStatus,
      ...(status[2] === undefined ? {} : { retryAfterSeconds: Number(status[2]) }),
      ...(status[3] === undefined ? {} : { body: status[3] as 'html' | 'json' }),
    };
    remaining = remaining.slice(status[0].length);
  } else if (word) {
    const name = word[1]!;
    if (MFT_ONLY.has(name) && target !== 'api' && target !== 'mft') fail(`${name} is an MFT report/token fault: use api:${name}`);
    if (XRAY_ONLY.has(name) && target !== 'xray') fail(`${name} is an Xray page fault: use xray:${name}`);
    if (name.startsWith('delay@')) fault = { kind: 'delay', ms: Number(word[2]) };
    else if (name.startsWith('truncate@')) fault = { kind: 'truncate', afterBytes: Number(word[3]) };
    else if (name === 'failed' || name === 'never-completes' || name === 'short') fault = { kind: 'report-outcome', outcome: name };
    else if (name === 'empty-page' || name === 'no-next-offset') fault = { kind: name };
    else fault = { kind: name as 'reset' | 'hang' | 'expire-tokens' };
    remaining = remaining.slice(word[0].length);
  } else {
    return fail(
      'unknown fault; expected a status (429, 500, 502, 503, 504), reset, hang, delay@MS, truncate@BYTES, failed, never-completes, short, expire-tokens, empty-page or no-next-offset',
    );
  }

  const rule: FaultRule = { fault };
  const match: FaultMatch = {};
  if (target !== 'mft' && target !== 'xray') match.server = target as FaultServer;
  if (method !== undefined) match.method = method.toUpperCase();
  if (path !== undefined) match.path = path;
  if (offset !== undefined) match.offset = Number(offset);

  const seen = new Set<string>();
  while (remaining !== '') {
    const modifier = MODIFIER.exec(remaining);
    if (!modifier) return fail(`unexpected "${remaining}"; modifiers are xN, +N, ~P and #N[-M]`);
    const sign = modifier[0][0]!;
    if (seen.has(sign)) fail(`"${sign}" given twice`);
    seen.add(sign);
    if (modifier[1] !== undefined) rule.times = Number(modifier[1]);
    else if (modifier[2] !== undefined) rule.after = Number(modifier[2]);
    else if (modifier[3] !== undefined) {
      const probability = Number(modifier[3]);
      if (!(probability >= 0 && probability <= 1)) fail(`probability must be from 0 to 1, got ${modifier[3]}`);
      rule.probability = probability;
      rule.seed = seed;
    } else {
      const from = Number(modifier[4]);
      const to = modifier[5] === undefined ? from : Number(modifier[5]);
      if (from < 1 || to < from || to - from > 1000) fail('attempts count from 1, as #N or #N-M with N <= M');
      match.attempt = from === to ? from : Array.from({ length: to - from + 1 }, (_, i) => from + i);
    }
    remaining = remaining.slice(modifier[0].length);
  }
  if (Object.keys(match).length > 0) rule.match = match;
  return { emulator, rule };
}

/** Parses `--chaos-kinds status,reset,...`. Throws FaultSpecError. */
export function parseRandomFaultKinds(list: string): RandomFaultKind[] {
  const kinds = list.split(',').map((kind) => kind.trim());
  for (const kind of kinds) {
    if (!(RANDOM_FAULT_KINDS as readonly string[]).includes(kind)) {
      throw new FaultSpecError(`unknown chaos kind "${kind}"; kinds: ${RANDOM_FAULT_KINDS.join(', ')}`);
    }
  }
  return [...new Set(kinds)] as RandomFaultKind[];
}

/** The kinds the Xray emulator can draw (it has no reports or expiring tokens). */
export function xrayRandomKinds(kinds: readonly RandomFaultKind[]): RandomFaultKind[] {
  return kinds.filter((kind) => kind !== 'report-failed' && kind !== 'report-never-completes' && kind !== 'report-short' && kind !== 'expire-tokens');
}

/** The kinds the MFT emulator can draw (it has no JSON pages). */
export function mftRandomKinds(kinds: readonly RandomFaultKind[]): RandomFaultKind[] {
  return kinds.filter((kind) => kind !== 'empty-page' && kind !== 'no-next-offset');
}
