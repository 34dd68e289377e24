import { zstdCompressSync } from 'node:zlib';
import type { Writable } from 'node:stream';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { OCSF_SCHEMA, type CompiledClass, type CompiledObject } from './schema.js';

/**
 * OCSF events → Parquet (hyparquet-writer: why this library, see README "OCSF output"), one row group per call,
 * zstd-compressed, pages of about 1 MB, statistics on `time` (so a reader skips row groups outside its range).
 *
 * The columns are a fixed projection of the class per source (`Projection`): a table (Glue, Security Lake) needs
 * one schema for every file, so the file has every projected column even when a window never fills one. Column
 * types come from the compiled OCSF schema: integer_t → INT32, long_t/timestamp_t → INT64, float_t → DOUBLE,
 * boolean_t → BOOLEAN, strings (and json_t, as JSON text) → UTF8, objects → groups, arrays → 3-level LISTs,
 * `unmapped` (a free-form object) → MAP<string, string>.
 */

/** true: the attribute itself; an object: these attributes of the object; [object]: of each element. */
export type Projection = { [attribute: string]: true | Projection | [Projection] };

/** A Parquet schema element (the thrift SchemaElement's fields this writer uses). */
export interface SchemaElement {
  name: string;
  type?: 'BOOLEAN' | 'INT32' | 'INT64' | 'DOUBLE' | 'BYTE_ARRAY';
  converted_type?: 'UTF8' | 'LIST' | 'MAP';
  repetition_type: 'REQUIRED' | 'OPTIONAL' | 'REPEATED';
  num_children?: number;
}

/** How a value is turned into what the Parquet writer takes (only where it differs from the OCSF value). */
type Convert = (value: unknown) => unknown;

export interface ParquetLayout {
  eventClass: CompiledClass;
  projection: Projection;
  schema: SchemaElement[];
  columns: { name: string; convert?: Convert }[];
}

export function parquetLayout(eventClass: CompiledClass, projection: Projection): ParquetLayout {
  const schema: SchemaElement[] = [{ name: 'root', repetition_type: 'REQUIRED', num_children: Object.keys(projection).length }];
  const columns: ParquetLayout['columns'] = [];
  for (const [name, selection] of Object.entries(projection)) {
    const convert = element(eventClass, name, selection, schema);
    columns.push(convert ? { name, convert } : { name });
  }
  return { eventClass, projection, schema, columns };
}

/** Appends the schema elements of one attribute; returns its converter when its values need one. */
function element(owner: CompiledObject, name: string, selection: true | Projection | [Projection], schema: SchemaElement[]): Convert | undefined {
  const attribute = owner.attributes[name];
  if (!attribute) throw new Error(`The Parquet projection names ${owner.name}.${name}, which is not an attribute of ${owner.name}`);
  const list = (inner: () => Convert | undefined): Convert | undefined => {
    schema.push({ name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 });
    schema.push({ name: 'list', repetition_type: 'REPEATED', num_children: 1 });
    const convert = inner();
    return convert && ((value) => (Array.isArray(value) ? value.map(convert) : value));
  };
  if (selection === true) {
    if (attribute.isObject) {
      if (attribute.type !== 'object') throw new Error(`${owner.name}.${name} is an object (${attribute.type}): project its attributes`);
      schema.push({ name, repetition_type: 'OPTIONAL', converted_type: 'MAP', num_children: 1 });
      schema.push({ name: 'key_value', repetition_type: 'REPEATED', num_children: 2 });
      schema.push({ name: 'key', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' });
      schema.push({ name: 'value', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' });
      return undefined;
    }
    const primitive = (elementName: string): Convert | undefined => {
      const base = OCSF_SCHEMA.types[attribute.type]!.base;
      const types = { integer: 'INT32', long: 'INT64', float: 'DOUBLE', boolean: 'BOOLEAN', string: 'BYTE_ARRAY', json: 'BYTE_ARRAY' } as const;
      schema.push({ name: elementName, type: types[base], ...(base === 'string' || base === 'json' ? { converted_type: 'UTF8' as const } : {}), repetition_type: 'OPTIONAL' });
      if (base === 'long') return (value) => (typeof value === 'number' ? BigInt(value) : value);
      if (base === 'json') return (value) => (value === undefined || value === null || typeof value === 'string' ? value : JSON.stringify(value));
      return undefined;
    };
    return attribute.isArray ? list(() => primitive('element')) : primitive(name);
  }
  const definition = OCSF_SCHEMA.objects[attribute.type];
  if (!attribute.isObject || !definition) throw new Error(`${owner.name}.${name} is not an object: project it with true`);
  const fields = Array.isArray(selection) ? selection[0] : selection;
  if (Array.isArray(selection) !== Boolean(attribute.isArray)) throw new Error(`${owner.name}.${name} is ${attribute.isArray ? '' : 'not '}an array`);
  const group = (elementName: string): Convert | undefined => {
    schema.push({ name: elementName, repetition_type: 'OPTIONAL', num_children: Object.keys(fields).length });
    const converters: [string, Convert][] = [];
    for (const [child, childSelection] of Object.entries(fields)) {
      const convert = element(definition, child, childSelection, schema);
      if (convert) converters.push([child, convert]);
    }
    if (!converters.length) return undefined;
    return (value) => {
      if (typeof value !== 'object' || value === null) return value;
      const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      for (const [child, convert] of converters) copy[child] = convert(copy[child]);
      return copy;
    };
  };
  return attribute.isArray ? list(() => group('element')) : group(name);
}

/** The attribute paths of an event that the projection does not hold (they would not reach the file). */
export function unprojectedPaths(value: Record<string, unknown>, projection: Projection, path = ''): string[] {
  const missing: string[] = [];
  for (const [name, item] of Object.entries(value)) {
    if (item === undefined || item === null) continue;
    const selection = projection[name];
    if (!selection) {
      missing.push(`${path}${name}`);
      continue;
    }
    if (selection === true) continue;
    const fields = Array.isArray(selection) ? selection[0] : selection;
    const items = Array.isArray(item) ? item : [item];
    for (const element of items) {
      if (typeof element === 'object' && element !== null) missing.push(...unprojectedPaths(element as Record<string, unknown>, fields, `${path}${name}.`));
    }
  }
  return [...new Set(missing)];
}

/** zstd from Node's zlib (22.15+); the Parquet files say ZSTD in their column chunks. */
const compressors = { ZSTD: (input: Uint8Array) => new Uint8Array(zstdCompressSync(input)) };

export interface ParquetFileWriterOptions {
  layout: ParquetLayout;
  /** Receives the file's bytes, a row group at a time (e.g. an S3 multipart upload). */
  sink: Writable;
  pageSize?: number;
  keyValueMetadata?: Record<string, string>;
}

/** Streams one Parquet file: `writeRowGroup` per batch of (time-sorted) events, then `finish`. */
export class ParquetFileWriter {
  private readonly writer: StreamByteWriter;
  private readonly parquet: ParquetWriter;
  private readonly pageSize: number;
  rows = 0;
  rowGroups = 0;

  constructor(private readonly options: ParquetFileWriterOptions) {
    this.writer = new StreamByteWriter(options.sink);
    this.pageSize = options.pageSize ?? 1024 * 1024;
    this.parquet = new ParquetWriter({
      writer: this.writer,
      schema: options.layout.schema as never,
      codec: 'ZSTD',
      compressors,
      statistics: false,
      createdBy: 'audit-export (hyparquet-writer)',
      kvMetadata: Object.entries(options.keyValueMetadata ?? {}).map(([key, value]) => ({ key, value })),
    });
  }

  async writeRowGroup(events: readonly Record<string, unknown>[]): Promise<void> {
    if (!events.length) return;
    const columnData = this.options.layout.columns.map(({ name, convert }) => {
      const data = new Array(events.length);
      for (let index = 0; index < events.length; index++) {
        const value = events[index]![name];
        data[index] = convert ? convert(value) : value;
      }
      // Statistics only where a reader prunes with them: the event time.
      return { name, data, statistics: name === 'time' };
    });
    await this.parquet.write({ columnData, rowGroupSize: events.length, pageSize: this.pageSize });
    this.rows += events.length;
    this.rowGroups++;
  }

  async finish(): Promise<void> {
    await this.parquet.finish();
  }
}

/** hyparquet-writer's ByteWriter, handing its bytes to a stream at every flush (each row group) and at the end. */
class StreamByteWriter extends ByteWriter {
  constructor(private readonly sink: Writable) {
    super(1024 * 1024);
  }

  flush(): Promise<void> | void {
    if (this.index === 0) return;
    const bytes = Buffer.from(this.buffer.slice(0, this.index));
    this.index = 0;
    if (!this.sink.write(bytes)) return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        this.sink.off('drain', drained);
        this.sink.off('error', done);
        this.sink.off('close', closed);
        if (error) reject(error);
        else resolve();
      };
      const drained = () => done();
      // A sink destroyed without an error (its upload was stopped) never drains.
      const closed = () => done(new Error('The Parquet file\'s destination closed before it was written'));
      this.sink.once('drain', drained);
      this.sink.once('error', done);
      this.sink.once('close', closed);
    });
  }

  override async finish(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve, reject) => this.sink.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
}
