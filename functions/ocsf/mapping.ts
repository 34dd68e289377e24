import { OCSF_VERSION, enumCaption, type CompiledClass } from './schema.js';

/**
 * What every mapping shares: the classification attributes computed as the schema says, the metadata block,
 * field lookup by the names a vendor may use, and `unmapped` for everything else.
 */

/** A source record as parsed: JSON values (JSON input) or strings (CSV input). */
export type SourceRecord = Record<string, unknown>;

export type OcsfEvent = Record<string, unknown> & { time: number };

export type MappingResult = { event: OcsfEvent } | { unmappable: string };

/** What a mapping knows of the window it normalizes (from the manifest). */
export interface MappingContext {
  tenant: string;
  /** The manifest's filters id: `dry-run` marks the Xray Dry Run tab. */
  filtersId: string;
}

export interface Classification {
  activity_id: number;
  activity_name: string;
  category_uid: number;
  category_name: string;
  class_uid: number;
  class_name: string;
  type_uid: number;
  type_name: string;
}

/** Classifications by class and activity_id (an activity the vendor named, 99, is not kept: its name varies). */
const classifications = new WeakMap<CompiledClass, Classification[]>();

/**
 * class, category and type attributes: class_uid, category_uid (from the class), type_uid = class_uid × 100 + activity_id.
 * The object is shared between events (spread it).
 */
export function classification(eventClass: CompiledClass, activityId: number, activityName?: string): Readonly<Classification> {
  if (activityId === 99 && activityName) return classify(eventClass, activityId, activityName);
  let known = classifications.get(eventClass);
  if (!known) classifications.set(eventClass, (known = []));
  return (known[activityId] ??= classify(eventClass, activityId, enumCaption(eventClass, 'activity_id', activityId)));
}

function classify(eventClass: CompiledClass, activityId: number, caption: string): Classification {
  return {
    activity_id: activityId,
    activity_name: caption,
    category_uid: eventClass.categoryUid,
    category_name: eventClass.categoryCaption,
    class_uid: eventClass.uid,
    class_name: eventClass.caption,
    type_uid: eventClass.uid * 100 + activityId,
    type_name: `${eventClass.caption}: ${caption}`,
  };
}

/** classification() and severity() in one object, by class, activity_id and severity_id. */
const headers = new WeakMap<CompiledClass, Map<number, Readonly<Classification & { severity_id: number; severity: string }>>>();

/**
 * classification() and severity() together, as one shared object to spread first into an event: V8 copies a
 * literal's first spread by the object's layout (one copy of known fields), a second spread field by field.
 */
export function eventHeader(eventClass: CompiledClass, activityId: number, severityId: number, activityName?: string): Readonly<Classification & { severity_id: number; severity: string }> {
  if (activityId === 99 && activityName) return { ...classify(eventClass, activityId, activityName), ...severity(eventClass, severityId) };
  let known = headers.get(eventClass);
  if (!known) headers.set(eventClass, (known = new Map()));
  const key = activityId * 1000 + severityId;
  let header = known.get(key);
  if (!header) known.set(key, (header = { ...classification(eventClass, activityId), ...severity(eventClass, severityId) }));
  return header;
}

const severities = new WeakMap<CompiledClass, { severity_id: number; severity: string }[]>();

/** severity_id and its caption (an object shared between events: spread it). */
export function severity(eventClass: CompiledClass, severityId: number): Readonly<{ severity_id: number; severity: string }> {
  let known = severities.get(eventClass);
  if (!known) severities.set(eventClass, (known = []));
  return (known[severityId] ??= { severity_id: severityId, severity: enumCaption(eventClass, 'severity_id', severityId) });
}

export interface MetadataInput {
  product: { name: string; vendor_name: string };
  uid?: string;
  tenant: string;
  logName: string;
  originalTime?: string;
  profiles?: string[];
  labels?: string[];
}

export function metadata(input: MetadataInput): Record<string, unknown> {
  return {
    version: OCSF_VERSION,
    product: input.product,
    uid: input.uid,
    tenant_uid: input.tenant,
    log_name: input.logName,
    original_time: input.originalTime,
    profiles: input.profiles?.length ? input.profiles : undefined,
    labels: input.labels?.length ? input.labels : undefined,
  };
}

/** The names one field may have in a record, the vendor's own first (a module constant: lookups are cached by it). */
export type FieldNames = readonly string[];

/**
 * One record layout (its keys in order: the records of one export share it) and, for each list of names asked
 * for, the keys `FieldReader.value` tries: the names as written, then keys that match a name in another case.
 */
class RecordShape {
  private readonly index = new Map<string, number>();
  private readonly byLowerName = new Map<string, number>();
  private readonly lookups = new Map<FieldNames, number[]>();

  constructor(readonly keys: string[]) {
    keys.forEach((key, position) => {
      this.index.set(key, position);
      const lower = key.toLowerCase();
      if (!this.byLowerName.has(lower)) this.byLowerName.set(lower, position); // the first key of that spelling
    });
  }

  /** The positions of the keys to try for `names`, in order. */
  candidates(names: FieldNames): number[] {
    let found = this.lookups.get(names);
    if (found) return found;
    found = [];
    for (const name of names) {
      const position = this.index.get(name);
      if (position !== undefined) found.push(position);
    }
    for (const name of names) {
      const position = this.byLowerName.get(name.toLowerCase());
      if (position !== undefined && this.keys[position] !== name) found.push(position);
    }
    this.lookups.set(names, found);
    return found;
  }
}

/** Shapes by their keys (bounded: a source has a few). */
const shapes = new Map<string, RecordShape>();
let lastShape: RecordShape | undefined;

function shapeOf(record: SourceRecord): RecordShape {
  const last = lastShape;
  if (last) {
    // The common case: the same keys as the record before (internalized strings: compared by reference).
    const keys = last.keys;
    let position = 0;
    let same = true;
    for (const key in record) {
      if (keys[position++] !== key) {
        same = false;
        break;
      }
    }
    if (same && position === keys.length) return last;
  }
  const keys = Object.keys(record);
  const id = keys.join('\u0000');
  let shape = shapes.get(id);
  if (!shape) {
    if (shapes.size >= 256) shapes.clear();
    shape = new RecordShape(keys);
    shapes.set(id, shape);
  }
  lastShape = shape;
  return shape;
}

/**
 * Reads a record's fields by the names a vendor may use (case-insensitive), remembering which were taken, so
 * `rest()` returns everything else for `unmapped`.
 */
export class FieldReader {
  private readonly shape: RecordShape;
  private readonly taken: Uint8Array;

  constructor(private readonly record: SourceRecord) {
    this.shape = shapeOf(record);
    this.taken = new Uint8Array(this.shape.keys.length);
  }

  /** The first of `names` present with a value (empty strings count as absent); marks what it looked at taken. */
  value(names: FieldNames): unknown {
    const keys = this.shape.keys;
    for (const position of this.shape.candidates(names)) {
      this.taken[position] = 1;
      const value = this.record[keys[position]!];
      if (value !== undefined && value !== null && value !== '') return value;
    }
    return undefined;
  }

  /** As value(), as a string (numbers and booleans written as JSON does). */
  text(names: FieldNames): string | undefined {
    const value = this.value(names);
    if (value === undefined) return undefined;
    if (typeof value === 'string') return value;
    // What JSON.stringify writes for a finite number (ids), without its generic path.
    return typeof value === 'number' && Number.isFinite(value) ? String(value) : JSON.stringify(value);
  }

  /** Gives a taken field back to `unmapped` (its value could not be mapped). */
  release(value: unknown): void {
    const keys = this.shape.keys;
    for (let position = 0; position < keys.length; position++) if (this.taken[position] && this.record[keys[position]!] === value) this.taken[position] = 0;
  }

  /** The fields not taken, each as a string (JSON for anything that is not one): OCSF `unmapped`. */
  rest(extra?: Record<string, string | undefined>): Record<string, string> | undefined {
    let out: Record<string, string> | undefined;
    const keys = this.shape.keys;
    for (let position = 0; position < keys.length; position++) {
      if (this.taken[position]) continue;
      const key = keys[position]!;
      const value = this.record[key];
      if (value === undefined) continue;
      (out ??= {})[key] = typeof value === 'string' ? value : typeof value === 'boolean' ? String(value) : JSON.stringify(value);
    }
    if (extra) for (const key in extra) if (extra[key] !== undefined) (out ??= {})[key] = extra[key]!;
    return out;
  }
}

const ISO_INSTANT = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/** An event time: ISO-8601 (a missing zone is read as UTC) or epoch milliseconds/seconds. */
export function parseEventTime(value: unknown): { time: number; timezoneOffset?: number } | undefined {
  if (typeof value === 'string') {
    const time = utcInstant(value);
    if (time !== undefined) return { time, timezoneOffset: 0 };
  }
  if (typeof value === 'number' && Number.isFinite(value)) return { time: Math.round(value < 1e11 ? value * 1000 : value) };
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (/^\d{10,13}$/.test(trimmed)) return parseEventTime(Number(trimmed));
  const match = ISO_INSTANT.exec(trimmed);
  if (!match) return undefined;
  const zone = match[5];
  const time = Date.parse(`${match[1]}T${match[2]}${zone ? zone.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2') : 'Z'}`);
  if (Number.isNaN(time)) return undefined;
  return { time, timezoneOffset: zone && zone.toUpperCase() !== 'Z' ? zoneMinutes(zone) : 0 };
}

/** The day of the last instant read (both vendors write whole windows of one day or two) and its epoch ms. */
let lastDay = '';
let lastDayMs = 0;

/**
 * `YYYY-MM-DDTHH:MM:SSZ` or `…SS.sssZ`, the forms both vendors write, read without a regular expression: the
 * day through Date.parse (once per day, so its checks apply), the time of day by digits. undefined: anything
 * else, for parseEventTime's general path (which reads these forms to the same instant).
 */
function utcInstant(text: string): number | undefined {
  const length = text.length;
  if ((length !== 20 && length !== 24) || text.charCodeAt(length - 1) !== 0x5a || text.charCodeAt(10) !== 0x54) return undefined;
  if (text.charCodeAt(13) !== 0x3a || text.charCodeAt(16) !== 0x3a || (length === 24 && text.charCodeAt(19) !== 0x2e)) return undefined;
  let dayMs = lastDayMs;
  if (!lastDay || !text.startsWith(lastDay)) {
    const day = text.slice(0, 10);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
    dayMs = Date.parse(`${day}T00:00:00Z`);
    if (Number.isNaN(dayMs)) return undefined;
    lastDay = day;
    lastDayMs = dayMs;
  }
  const hours = twoDigits(text, 11);
  const minutes = twoDigits(text, 14);
  const seconds = twoDigits(text, 17);
  if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59 || seconds < 0 || seconds > 59) return undefined;
  let millis = 0;
  if (length === 24) {
    const hundreds = twoDigits(text, 20);
    const last = text.charCodeAt(22) - 0x30;
    if (hundreds < 0 || last < 0 || last > 9) return undefined;
    millis = hundreds * 10 + last;
  }
  return dayMs + hours * 3_600_000 + minutes * 60_000 + seconds * 1000 + millis;
}

/** The two decimal digits at `at`, or -1. */
function twoDigits(text: string, at: number): number {
  const tens = text.charCodeAt(at) - 0x30;
  const ones = text.charCodeAt(at + 1) - 0x30;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : -1;
}

function zoneMinutes(zone: string): number {
  const [, sign, hours, minutes] = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  return (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes));
}

/** The dictionary's email_t pattern. */
export const EMAIL = /^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$/;

/**
 * A test of strings that repeat from record to record (user names, addresses), its answers remembered for up to
 * 4,096 distinct strings: a map lookup costs a tenth of node:net's isIP regexes or the email pattern.
 */
export function remembered(test: (value: string) => boolean): (value: string) => boolean {
  const answers = new Map<string, boolean>();
  return (value) => {
    let answer = answers.get(value);
    if (answer === undefined) {
      if (answers.size >= 4096) answers.clear();
      answer = test(value);
      answers.set(value, answer);
    }
    return answer;
  };
}

/** EMAIL.test, remembered. */
export const isEmail = remembered((value) => EMAIL.test(value));

/**
 * Events keep absent attributes as `undefined` (absent to the validator, to JSON and to the Parquet writer) rather
 * than deleting them: `delete` turns V8 objects into slow dictionary-mode objects, and that cost a third of the
 * normalizer's CPU (npm run bench:ocsf).
 */
