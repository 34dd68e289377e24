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

/** class, category and type attributes: class_uid, category_uid (from the class), type_uid = class_uid × 100 + activity_id. */
export function classification(eventClass: CompiledClass, activityId: number, activityName?: string) {
  const caption = activityId === 99 && activityName ? activityName : enumCaption(eventClass, 'activity_id', activityId);
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

export function severity(eventClass: CompiledClass, severityId: number) {
  return { severity_id: severityId, severity: enumCaption(eventClass, 'severity_id', severityId) };
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

/**
 * Reads a record's fields by the names a vendor may use (case-insensitive), remembering which were taken, so
 * `rest()` returns everything else for `unmapped`.
 */
export class FieldReader {
  /** Lower-cased name → the record's key, built only when a name is not found as written. */
  private byLowerName: Map<string, string> | undefined;
  private readonly taken: string[] = [];

  constructor(private readonly record: SourceRecord) {}

  /** The first of `names` present with a value (empty strings count as absent); marks it taken. */
  value(...names: string[]): unknown {
    for (const name of names) {
      if (Object.hasOwn(this.record, name)) {
        const found = this.take(name);
        if (found !== undefined) return found;
      }
    }
    this.byLowerName ??= new Map(Object.keys(this.record).map((key) => [key.toLowerCase(), key] as const).reverse());
    for (const name of names) {
      const key = this.byLowerName.get(name.toLowerCase());
      if (key === undefined || key === name) continue;
      const found = this.take(key);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  private take(key: string): unknown {
    const value = this.record[key];
    if (!this.taken.includes(key)) this.taken.push(key);
    return value === undefined || value === null || value === '' ? undefined : value;
  }

  /** As value(), as a string (numbers and booleans written as JSON does). */
  text(...names: string[]): string | undefined {
    const value = this.value(...names);
    if (value === undefined) return undefined;
    return typeof value === 'string' ? value : JSON.stringify(value);
  }

  /** Gives a taken field back to `unmapped` (its value could not be mapped). */
  release(value: unknown): void {
    for (let index = this.taken.length - 1; index >= 0; index--) if (this.record[this.taken[index]!] === value) this.taken.splice(index, 1);
  }

  /** The fields not taken, each as a string (JSON for anything that is not one): OCSF `unmapped`. */
  rest(extra: Record<string, string | undefined> = {}): Record<string, string> | undefined {
    let out: Record<string, string> | undefined;
    for (const key in this.record) {
      const value = this.record[key];
      if (value === undefined || this.taken.includes(key)) continue;
      (out ??= {})[key] = typeof value === 'string' ? value : JSON.stringify(value);
    }
    for (const key in extra) if (extra[key] !== undefined) (out ??= {})[key] = extra[key]!;
    return out;
  }
}

const ISO_INSTANT = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/** An event time: ISO-8601 (a missing zone is read as UTC) or epoch milliseconds/seconds. */
export function parseEventTime(value: unknown): { time: number; timezoneOffset?: number } | undefined {
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

function zoneMinutes(zone: string): number {
  const [, sign, hours, minutes] = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  return (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes));
}

/** The dictionary's email_t pattern. */
export const EMAIL = /^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$/;

/**
 * Events keep absent attributes as `undefined` (absent to the validator, to JSON and to the Parquet writer) rather
 * than deleting them: `delete` turns V8 objects into slow dictionary-mode objects, and that cost a third of the
 * normalizer's CPU (npm run bench:ocsf).
 */
