import { z } from 'zod';
import { normalizeIp } from './ip.js';
import {
  ACTIONS,
  ACTOR_TYPES,
  OUTCOMES,
  REPORT_TYPES,
  RESOURCES,
  type ReportQuery,
  type ReportType,
} from './types.js';

/**
 * Create-report body validation. Enums are accepted by name (any case) or by documented index, because
 * the vendor's clients send both; the result is normalized (names, ISO UTC, canonical IP) so that two
 * spellings of the same request produce the same report bytes.
 */

export const MAX_ACTOR_LENGTH = 320;

export interface FieldProblem {
  field: string;
  message: string;
}

export class ReportValidationError extends Error {
  constructor(readonly details: FieldProblem[]) {
    super(`Invalid report request: ${details.map((problem) => `${problem.field}: ${problem.message}`).join('; ')}`);
    this.name = 'ReportValidationError';
  }
}

/** Parses a raw request body; throws ReportValidationError naming each bad field. */
export function parseCreateReportBody(rawBody: string): ReportQuery {
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch {
    throw new ReportValidationError([{ field: 'body', message: 'must be a JSON object' }]);
  }
  return validateCreateReport(body);
}

/** The keys the vendor's reference script always sends, in its order. */
export const REFERENCE_BODY_KEYS = ['type', 'start', 'end', 'actor', 'actorType', 'actions', 'resources', 'outcomes', 'sourceIp'] as const;
const WHOLE_SECOND_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/**
 * What makes a body differ from the shape the reference script sends (createBody `reference`): all nine keys,
 * a numeric type, whole-second UTC instants, a string or null actor and sourceIp, a string actorType, arrays
 * for the three lists. A server that needs that shape would answer anything else with 400.
 */
export function referenceShapeProblems(body: unknown): FieldProblem[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [{ field: 'body', message: 'must be a JSON object' }];
  const fields = body as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  for (const key of REFERENCE_BODY_KEYS) if (!(key in fields)) problems.push({ field: key, message: 'is required' });
  if ('type' in fields && typeof fields.type !== 'number') problems.push({ field: 'type', message: 'must be a number (0 = JSON, 1 = CSV)' });
  for (const key of ['start', 'end'] as const) {
    if (key in fields && !(typeof fields[key] === 'string' && WHOLE_SECOND_UTC.test(fields[key]))) {
      problems.push({ field: key, message: 'must be a UTC instant in whole seconds, e.g. 2026-06-26T00:00:00Z' });
    }
  }
  for (const key of ['actor', 'sourceIp'] as const) {
    if (key in fields && fields[key] !== null && typeof fields[key] !== 'string') problems.push({ field: key, message: 'must be a string or null' });
  }
  if ('actorType' in fields && typeof fields.actorType !== 'string') problems.push({ field: 'actorType', message: 'must be a string' });
  for (const key of ['actions', 'resources', 'outcomes'] as const) {
    if (key in fields && !Array.isArray(fields[key])) problems.push({ field: key, message: 'must be an array' });
  }
  return problems;
}

export function validateCreateReport(body: unknown): ReportQuery {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ReportValidationError([{ field: 'body', message: 'must be a JSON object' }]);
  }
  const result = createReportSchema.safeParse(body);
  if (!result.success) {
    throw new ReportValidationError(result.error.issues.map((issue) => ({ field: fieldName(issue.path), message: issue.message })));
  }
  return result.data;
}

function enumValue<T extends string>(names: readonly T[], label: string) {
  const expected = `one of ${names.join(', ')} (or index 0-${names.length - 1})`;
  return z
    .union([z.number(), z.string()], {
      error: (issue) => (issue.input === undefined ? 'is required' : `must be ${expected}`),
    })
    .transform((value, ctx): T => {
      // A numeric string ("1") is read as an index, as .NET-style enum converters do.
      const index = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : undefined;
      const found =
        index !== undefined
          ? Number.isInteger(index)
            ? names[index]
            : undefined
          : names.find((name) => name.toLowerCase() === (value as string).trim().toLowerCase());
      if (found === undefined) {
        ctx.addIssue({ code: 'custom', message: `unknown ${label} ${preview(value)}; expected ${expected}` });
        return z.NEVER;
      }
      return found;
    });
}

/** An optional filter list: null/absent = empty = no filter; deduplicated, in the documented order. */
function enumList<T extends string>(names: readonly T[], label: string) {
  return z
    .array(enumValue(names, label), { error: `must be an array of ${label} values` })
    .nullish()
    .transform((values) => {
      const chosen = new Set<string>(values ?? []);
      return names.filter((name) => chosen.has(name));
    });
}

const timestamp = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be an ISO-8601 timestamp string') })
  .transform((text, ctx) => {
    const ms = parseIsoTimestamp(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `${preview(text)} is not an ISO-8601 timestamp with a zone (e.g. 2026-06-26T00:00:00Z)` });
      return z.NEVER;
    }
    return new Date(ms).toISOString();
  });

const createReportSchema = z
  .object({
    type: enumValue(REPORT_TYPES, 'report type').transform((name): ReportType => (name === 'Json' ? 0 : 1)),
    start: timestamp,
    end: timestamp,
    actor: z
      .string({ error: 'must be a string or null' })
      .max(MAX_ACTOR_LENGTH, `must be at most ${MAX_ACTOR_LENGTH} characters`)
      .nullish()
      .transform((actor) => actor ?? null),
    actorType: enumValue(ACTOR_TYPES, 'actor type')
      .nullish()
      .transform((actorType) => actorType ?? 'All'),
    actions: enumList(ACTIONS, 'action'),
    resources: enumList(RESOURCES, 'resource'),
    outcomes: enumList(OUTCOMES, 'outcome'),
    sourceIp: z
      .string({ error: 'must be a string or null' })
      .nullish()
      .transform((text, ctx) => {
        if (text === null || text === undefined) return null;
        const normalized = normalizeIp(text.trim());
        if (normalized === undefined) {
          ctx.addIssue({ code: 'custom', message: `${preview(text)} is not an IPv4 or IPv6 address` });
          return z.NEVER;
        }
        return normalized;
      }),
  })
  .superRefine((query, ctx) => {
    if (Date.parse(query.start) >= Date.parse(query.end)) {
      ctx.addIssue({ code: 'custom', path: ['start'], message: 'must be earlier than end' });
    }
  });

const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|([+-])(\d{2}):?(\d{2}))$/i;

/**
 * Epoch ms of an ISO-8601 date-time that names its zone (Z or ±hh:mm), or undefined. Checked by hand
 * because Date.parse silently rolls 2026-02-30 over to March. Sub-millisecond fractions round up: events
 * have whole-ms times, so for a half-open window `t >= 0.5 ms` is `t >= 1 ms`.
 */
export function parseIsoTimestamp(text: string): number | undefined {
  const match = ISO_TIMESTAMP.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second = '0', fraction = '', zone, sign, offsetHours = '0', offsetMinutes = '0'] = match;
  const [y, mo, d, h, mi, s, oh, om] = [year, month, day, hour, minute, second, offsetHours, offsetMinutes].map(Number) as number[];
  if (y! < 1970 || mo! < 1 || mo! > 12 || d! < 1 || h! > 23 || mi! > 59 || s! > 59 || oh! > 23 || om! > 59) return undefined;
  const midnight = Date.UTC(y!, mo! - 1, d!);
  if (new Date(midnight).getUTCDate() !== d) return undefined;
  const offsetMs = zone!.toUpperCase() === 'Z' ? 0 : (sign === '-' ? -1 : 1) * (oh! * 60 + om!) * 60_000;
  const fractionMs = fraction ? Number(`0.${fraction}`) * 1000 : 0;
  return Math.ceil(midnight + ((h! * 60 + mi!) * 60 + s!) * 1000 + fractionMs - offsetMs);
}

function fieldName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'body';
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`)).join('');
}

/** A short, safe rendering of a rejected value for an error message. */
function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
