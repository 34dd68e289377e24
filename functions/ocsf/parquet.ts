import * as zlib from 'node:zlib';
import type { Writable } from 'node:stream';
import { createColumn, type LeafColumn, type LeafSpec, type PhysicalType } from './parquet-columns.js';
import { bitWidth, ByteBuffer, CompactWriter, ThriftType, writeRleHybrid } from './parquet-encoding.js';
import { OCSF_SCHEMA, type CompiledClass, type CompiledObject } from './schema.js';

/**
 * OCSF events → Parquet, written by the project itself for its fixed projections (why not a library: README
 * "OCSF output", Parquet). Each event is shredded as it arrives into its leaf columns (definition and
 * repetition levels, values in typed arrays, strings dictionary-encoded while that pays), so a row group is a few
 * typed arrays rather than thousands of objects; a full row group is encoded column by column into DATA_PAGE (v1)
 * pages of about 1 MB, zstd-compressed (gzip where Node's zlib has no zstd), with statistics on `time` (so a
 * reader skips row groups outside its range), and handed to the sink (an S3 multipart upload).
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
  type?: PhysicalType;
  converted_type?: 'UTF8' | 'LIST' | 'MAP';
  repetition_type: 'REQUIRED' | 'OPTIONAL' | 'REPEATED';
  num_children?: number;
}

/**
 * How one attribute is shredded. `level` is the definition level when the attribute is present; lists and maps
 * also have the repetition level of their repeated group.
 */
type ShredNode =
  | { kind: 'value'; name: string; level: number; leaf: number }
  | { kind: 'struct'; name: string; level: number; children: ShredNode[]; leaves: number[] }
  | { kind: 'list'; name: string; level: number; repetition: number; element: ShredNode; leaves: number[] }
  | { kind: 'map'; name: string; level: number; repetition: number; key: number; value: number };

export interface ParquetLayout {
  eventClass: CompiledClass;
  projection: Projection;
  schema: SchemaElement[];
  /** The leaf columns in schema order (the order of the column chunks). */
  leaves: LeafSpec[];
  /** The top-level attributes, as shredded. */
  fields: ShredNode[];
}

/** Attributes with min/max statistics in every column chunk. */
const STATISTICS = new Set(['time']);

export function parquetLayout(eventClass: CompiledClass, projection: Projection): ParquetLayout {
  const schema: SchemaElement[] = [{ name: 'root', repetition_type: 'REQUIRED', num_children: Object.keys(projection).length }];
  const leaves: LeafSpec[] = [];
  const fields = Object.entries(projection).map(([name, selection]) => element(eventClass, name, selection, { schema, leaves, path: [], level: 0, repetition: 0 }));
  return { eventClass, projection, schema, leaves, fields };
}

interface Position {
  schema: SchemaElement[];
  leaves: LeafSpec[];
  /** Schema path of the parent. */
  path: string[];
  /** Definition and repetition levels of the parent. */
  level: number;
  repetition: number;
}

/** Appends the schema elements and leaves of one (optional) attribute; returns how it is shredded. */
function element(owner: CompiledObject, name: string, selection: true | Projection | [Projection], at: Position): ShredNode {
  const attribute = owner.attributes[name];
  if (!attribute) throw new Error(`The Parquet projection names ${owner.name}.${name}, which is not an attribute of ${owner.name}`);
  const level = at.level + 1;
  const path = [...at.path, name];
  const firstLeaf = at.leaves.length;
  const leavesSince = () => at.leaves.slice(firstLeaf).map((_, index) => firstLeaf + index);
  /** A LIST group and its repeated `list`, around `inner` (the element, one level deeper still). */
  const list = (inner: (position: Position) => ShredNode): ShredNode => {
    at.schema.push({ name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 });
    at.schema.push({ name: 'list', repetition_type: 'REPEATED', num_children: 1 });
    const repetition = at.repetition + 1;
    const elementNode = inner({ ...at, path: [...path, 'list'], level: level + 1, repetition });
    return { kind: 'list', name, level, repetition, element: elementNode, leaves: leavesSince() };
  };
  if (selection === true) {
    if (attribute.isObject) {
      if (attribute.type !== 'object') throw new Error(`${owner.name}.${name} is an object (${attribute.type}): project its attributes`);
      const repetition = at.repetition + 1;
      at.schema.push({ name, repetition_type: 'OPTIONAL', converted_type: 'MAP', num_children: 1 });
      at.schema.push({ name: 'key_value', repetition_type: 'REPEATED', num_children: 2 });
      at.schema.push({ name: 'key', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' });
      at.schema.push({ name: 'value', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' });
      const key = at.leaves.push({ path: [...path, 'key_value', 'key'], type: 'BYTE_ARRAY', maxDefinition: level + 1, maxRepetition: repetition }) - 1;
      const value = at.leaves.push({ path: [...path, 'key_value', 'value'], type: 'BYTE_ARRAY', maxDefinition: level + 2, maxRepetition: repetition, json: true }) - 1;
      return { kind: 'map', name, level, repetition, key, value };
    }
    const base = OCSF_SCHEMA.types[attribute.type]!.base;
    const types = { integer: 'INT32', long: 'INT64', float: 'DOUBLE', boolean: 'BOOLEAN', string: 'BYTE_ARRAY', json: 'BYTE_ARRAY' } as const;
    const primitive = (position: Position, elementName: string): ShredNode => {
      const type = types[base];
      position.schema.push({ name: elementName, type, ...(type === 'BYTE_ARRAY' ? { converted_type: 'UTF8' as const } : {}), repetition_type: 'OPTIONAL' });
      const leaf = position.leaves.push({
        path: [...position.path, elementName],
        type,
        maxDefinition: position.level + 1,
        maxRepetition: position.repetition,
        ...(base === 'json' ? { json: true } : {}),
        ...(STATISTICS.has(name) && !position.path.length ? { statistics: true } : {}),
      }) - 1;
      return { kind: 'value', name: elementName, level: position.level + 1, leaf };
    };
    return attribute.isArray ? list((position) => primitive(position, 'element')) : primitive(at, name);
  }
  const definition = OCSF_SCHEMA.objects[attribute.type];
  if (!attribute.isObject || !definition) throw new Error(`${owner.name}.${name} is not an object: project it with true`);
  const fields = Array.isArray(selection) ? selection[0] : selection;
  if (Array.isArray(selection) !== Boolean(attribute.isArray)) throw new Error(`${owner.name}.${name} is ${attribute.isArray ? '' : 'not '}an array`);
  const group = (position: Position, elementName: string): ShredNode => {
    position.schema.push({ name: elementName, repetition_type: 'OPTIONAL', num_children: Object.keys(fields).length });
    const inside = { ...position, path: [...position.path, elementName], level: position.level + 1 };
    const first = position.leaves.length;
    const children = Object.entries(fields).map(([child, childSelection]) => element(definition, child, childSelection, inside));
    return { kind: 'struct', name: elementName, level: position.level + 1, children, leaves: position.leaves.slice(first).map((_, index) => first + index) };
  };
  return attribute.isArray ? list((position) => group(position, 'element')) : group(at, name);
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

/**
 * The function that shreds one event into the leaf columns, generated from the layout: one statement per
 * attribute, so each property read and each column call is its own site (V8 then keeps one inline cache per
 * site; closures shared by every column of a kind made those sites megamorphic: about 7 → 4.5 µs per Xray event
 * for shredding alone).
 * The source holds attribute names only as JSON string literals; `columns` are the builder's, in leaf order.
 */
function compileShredder(fields: ShredNode[], columns: LeafColumn[]): (event: Record<string, unknown>) => void {
  const lines: string[] = [];
  let names = 0;
  const local = (prefix: string) => `${prefix}${names++}`;
  const absent = (leaves: number[], definition: string, repetition: string) => {
    for (const leaf of leaves) lines.push(`c${leaf}.absent(${definition}, ${repetition});`);
  };
  const leavesOf = (node: ShredNode): number[] => (node.kind === 'value' ? [node.leaf] : node.kind === 'map' ? [node.key, node.value] : node.leaves);
  const emit = (node: ShredNode, read: string, definition: string, repetition: string) => {
    const value = local('v');
    const name = JSON.stringify(node.name);
    lines.push(`const ${value} = ${read};`);
    lines.push(`if (${value} === undefined || ${value} === null) {`);
    absent(leavesOf(node), definition, repetition);
    lines.push('} else {');
    switch (node.kind) {
      case 'value':
        lines.push(`c${node.leaf}.put(${value}, ${repetition});`);
        break;
      case 'struct':
        lines.push(`if (typeof ${value} !== 'object' || Array.isArray(${value})) wrongType(${name}, 'an object');`);
        for (const child of node.children) emit(child, `${value}[${JSON.stringify(child.name)}]`, String(node.level), repetition);
        break;
      case 'list': {
        const index = local('i');
        const slot = local('r');
        lines.push(`if (!Array.isArray(${value})) wrongType(${name}, 'an array');`);
        lines.push(`if (${value}.length === 0) {`);
        absent(node.leaves, String(node.level), repetition);
        lines.push(`} else for (let ${index} = 0; ${index} < ${value}.length; ${index}++) {`);
        lines.push(`const ${slot} = ${index} === 0 ? ${repetition} : ${node.repetition};`);
        emit(node.element, `${value}[${index}]`, String(node.level + 1), slot);
        lines.push('}');
        break;
      }
      case 'map': {
        const key = local('k');
        const slot = local('r');
        const item = local('v');
        const empty = local('e');
        lines.push(`if (typeof ${value} !== 'object' || Array.isArray(${value})) wrongType(${name}, 'an object');`);
        lines.push(`let ${slot} = ${repetition};`, `let ${empty} = true;`);
        lines.push(`for (const ${key} in ${value}) {`);
        lines.push(`const ${item} = ${value}[${key}];`);
        lines.push(`c${node.key}.put(${key}, ${slot});`);
        lines.push(`if (${item} === undefined || ${item} === null) c${node.value}.absent(${node.level + 1}, ${slot}); else c${node.value}.put(${item}, ${slot});`);
        lines.push(`${slot} = ${node.repetition};`, `${empty} = false;`);
        lines.push('}');
        lines.push(`if (${empty}) {`);
        absent([node.key, node.value], String(node.level), repetition);
        lines.push('}');
        break;
      }
    }
    lines.push('}');
  };
  for (const field of fields) emit(field, `event[${JSON.stringify(field.name)}]`, '0', '0');
  const source = `${columns.map((_, leaf) => `const c${leaf} = columns[${leaf}];`).join('\n')}\nreturn function shred(event) {\n${lines.join('\n')}\n};`;
  const wrongType = (name: string, expected: string) => {
    throw new TypeError(`The OCSF attribute ${name} must be ${expected} to be written to Parquet`);
  };
  return new Function('columns', 'wrongType', source)(columns, wrongType) as (event: Record<string, unknown>) => void;
}

/**
 * The rows of one row group as they arrive, shredded into leaf columns; remembers each row's time, so a group
 * that did not arrive in time order is reordered (stably) when it is written.
 */
export class RowGroupBuilder {
  readonly columns: LeafColumn[];
  private readonly shred: (event: Record<string, unknown>) => void;
  private times: Float64Array;
  private inOrder = true;
  rows = 0;
  minTime = Infinity;
  maxTime = -Infinity;

  constructor(readonly layout: ParquetLayout, capacity = 1024) {
    this.columns = layout.leaves.map((spec) => createColumn(spec, capacity));
    this.shred = compileShredder(layout.fields, this.columns);
    this.times = new Float64Array(capacity);
  }

  /**
   * Adds one event. A value of the wrong type throws (the mappings emit only what the validator accepts); the
   * builder is then unusable, as is the window being written.
   */
  add(event: Record<string, unknown> & { time: number }): void {
    const time = event.time;
    if (time < this.maxTime) this.inOrder = false;
    if (time > this.maxTime) this.maxTime = time;
    if (time < this.minTime) this.minTime = time;
    this.shred(event);
    if (this.rows === this.times.length) {
      const times = new Float64Array(this.rows * 2);
      times.set(this.times);
      this.times = times;
    }
    this.times[this.rows++] = time;
  }

  /** Puts the rows in time order (equal times keep their order) if they did not arrive in it. */
  sortByTime(): void {
    if (this.inOrder) return;
    const times = this.times;
    const order = Int32Array.from({ length: this.rows }, (_, index) => index);
    order.sort((a, b) => times[a]! - times[b]! || a - b);
    for (const column of this.columns) column.permute(order);
    const sorted = new Float64Array(this.times.length);
    for (let index = 0; index < this.rows; index++) sorted[index] = times[order[index]!]!;
    this.times = sorted;
    this.inOrder = true;
  }

  reset(): void {
    for (const column of this.columns) column.reset();
    this.rows = 0;
    this.inOrder = true;
    this.minTime = Infinity;
    this.maxTime = -Infinity;
  }
}

export type ParquetCodec = 'ZSTD' | 'GZIP';

/** zstd from Node's zlib (22.15 and later, as the pinned Node and Lambda's nodejs22.x are); gzip where it has none. */
export const DEFAULT_CODEC: ParquetCodec = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function' ? 'ZSTD' : 'GZIP';

/**
 * zstd at level 1: on the pages of 100,000 Xray events / 300,000 MFT records it takes 0.98 / 0.58 µs per event
 * against level 3's 1.85 / 1.05 for files 3 % larger / 4 % smaller (gzip level 1: 1.40 / 1.26 µs, 4 % / 18 %
 * larger; zstd's fast levels below 1 lose a third of the ratio for little time). gzip at zlib's default (6).
 */
const ZSTD_LEVEL_1 = { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } };
const COMPRESSORS: Record<ParquetCodec, (input: Uint8Array) => Uint8Array> = {
  ZSTD: (input) => zlib.zstdCompressSync(input, ZSTD_LEVEL_1),
  GZIP: (input) => zlib.gzipSync(input),
};

/** parquet.thrift enum values. */
const TYPE_IDS: Record<PhysicalType, number> = { BOOLEAN: 0, INT32: 1, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 };
const REPETITION_IDS = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 } as const;
const CONVERTED_IDS = { UTF8: 0, MAP: 1, LIST: 3 } as const;
/** LogicalType union members: STRING 1, MAP 2, LIST 3. */
const LOGICAL_IDS = { UTF8: 1, MAP: 2, LIST: 3 } as const;
const CODEC_IDS: Record<ParquetCodec, number> = { GZIP: 2, ZSTD: 6 };
const ENCODING = { PLAIN: 0, RLE: 3, RLE_DICTIONARY: 8 } as const;
const PAGE = { DATA: 0, DICTIONARY: 2 } as const;

interface ChunkMeta {
  leaf: LeafSpec;
  dictionary: boolean;
  values: number;
  uncompressed: number;
  compressed: number;
  offset: number;
  dataPageOffset: number;
  dictionaryPageOffset?: number;
  statistics?: { nulls: number; min: Buffer; max: Buffer };
}

interface RowGroupMeta {
  chunks: ChunkMeta[];
  rows: number;
  offset: number;
  uncompressed: number;
  compressed: number;
}

export interface ParquetFileWriterOptions {
  layout: ParquetLayout;
  /** Receives the file's bytes, a row group at a time (e.g. an S3 multipart upload). */
  sink: Writable;
  pageSize?: number;
  codec?: ParquetCodec;
  keyValueMetadata?: Record<string, string>;
}

/** Streams one Parquet file: `writeRowGroup` per filled RowGroupBuilder (sorted by time here), then `finish`. */
export class ParquetFileWriter {
  private readonly layout: ParquetLayout;
  private readonly sink: Writable;
  private readonly pageSize: number;
  private readonly codec: ParquetCodec;
  private readonly compress: (input: Uint8Array) => Uint8Array;
  private readonly out = new ByteBuffer(1024 * 1024);
  private readonly page = new ByteBuffer(1024 * 1024);
  private readonly header = new ByteBuffer(256);
  /** File offset of out's first byte. */
  private flushed = 0;
  private readonly rowGroupMeta: RowGroupMeta[] = [];
  rows = 0;
  rowGroups = 0;

  constructor(private readonly options: ParquetFileWriterOptions) {
    this.layout = options.layout;
    this.sink = options.sink;
    this.pageSize = options.pageSize ?? 1024 * 1024;
    this.codec = options.codec ?? DEFAULT_CODEC;
    this.compress = COMPRESSORS[this.codec];
    this.out.append(MAGIC);
  }

  /** Writes the builder's rows as one row group (in time order) and hands the bytes to the sink. */
  async writeRowGroup(builder: RowGroupBuilder): Promise<void> {
    if (builder.layout !== this.layout) throw new Error('The row group was built for another Parquet layout');
    if (!builder.rows) return;
    builder.sortByTime();
    const offset = this.position();
    const chunks = builder.columns.map((column) => this.writeChunk(column));
    this.rowGroupMeta.push({
      chunks,
      rows: builder.rows,
      offset,
      uncompressed: chunks.reduce((sum, chunk) => sum + chunk.uncompressed, 0),
      compressed: this.position() - offset,
    });
    this.rows += builder.rows;
    this.rowGroups++;
    await this.flush();
  }

  async finish(): Promise<void> {
    const start = this.out.length;
    this.writeFooter();
    this.out.u32(this.out.length - start);
    this.out.append(MAGIC);
    await this.flush();
    await new Promise<void>((resolve, reject) => this.sink.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }

  private position(): number {
    return this.flushed + this.out.length;
  }

  private writeChunk(column: LeafColumn): ChunkMeta {
    const leaf = column.spec;
    const offset = this.position();
    let uncompressed = 0;
    const dictionary = column.finishChunk();
    let dictionaryPageOffset: number | undefined;
    if (dictionary) {
      dictionaryPageOffset = this.position();
      this.page.clear();
      dictionary.write(this.page);
      uncompressed += this.writePage(PAGE.DICTIONARY, dictionary.entries, ENCODING.PLAIN);
    }
    const dataPageOffset = this.position();
    const encoding = ENCODING[column.encoding];
    for (const range of column.pages(this.pageSize)) {
      this.page.clear();
      if (leaf.maxRepetition) this.levels(column.repetitions, range.slotStart, range.slotEnd, leaf.maxRepetition);
      if (leaf.maxDefinition) this.levels(column.definitions, range.slotStart, range.slotEnd, leaf.maxDefinition);
      column.writeValues(this.page, range.valueStart, range.valueEnd);
      uncompressed += this.writePage(PAGE.DATA, range.slotEnd - range.slotStart, encoding);
    }
    const minMax = column.minMax();
    return {
      leaf,
      dictionary: Boolean(dictionary),
      values: column.slots,
      uncompressed,
      compressed: this.position() - offset,
      offset,
      dataPageOffset,
      ...(dictionaryPageOffset !== undefined ? { dictionaryPageOffset } : {}),
      ...(minMax ? { statistics: { nulls: column.slots - column.count, ...minMax } } : {}),
    };
  }

  /** DATA_PAGE (v1) levels: their byte length (4 bytes), then the RLE / bit-packing hybrid. */
  private levels(levels: Uint8Array, from: number, to: number, max: number): void {
    const page = this.page;
    page.u32(0);
    const start = page.length;
    writeRleHybrid(page, levels, from, to, bitWidth(max));
    page.view.setUint32(start - 4, page.length - start, true);
  }

  /** Compresses the page body in `this.page`, writes its header and body; returns its uncompressed size with the header. */
  private writePage(type: number, values: number, encoding: number): number {
    const body = this.compress(this.page.subarray());
    const header = this.header;
    header.clear();
    const thrift = new CompactWriter(header);
    thrift.begin();
    thrift.i32(1, type);
    thrift.i32(2, this.page.length);
    thrift.i32(3, body.length);
    if (type === PAGE.DATA) {
      thrift.struct(5);
      thrift.i32(1, values);
      thrift.i32(2, encoding);
      thrift.i32(3, ENCODING.RLE);
      thrift.i32(4, ENCODING.RLE);
      thrift.end();
    } else {
      thrift.struct(7);
      thrift.i32(1, values);
      thrift.i32(2, encoding);
      thrift.end();
    }
    thrift.end();
    this.out.append(header.subarray());
    this.out.append(body);
    return header.length + this.page.length;
  }

  /** FileMetaData (parquet.thrift), compact protocol. */
  private writeFooter(): void {
    const thrift = new CompactWriter(this.out);
    const { schema, leaves } = this.layout;
    thrift.begin();
    thrift.i32(1, 2); // version
    thrift.list(2, ThriftType.STRUCT, schema.length);
    for (const element of schema) {
      thrift.begin();
      if (element.type) thrift.i32(1, TYPE_IDS[element.type]);
      thrift.i32(3, REPETITION_IDS[element.repetition_type]);
      thrift.binary(4, element.name);
      if (element.num_children !== undefined) thrift.i32(5, element.num_children);
      if (element.converted_type) {
        thrift.i32(6, CONVERTED_IDS[element.converted_type]);
        thrift.struct(10);
        thrift.struct(LOGICAL_IDS[element.converted_type]);
        thrift.end();
        thrift.end();
      }
      thrift.end();
    }
    thrift.i64(3, this.rows);
    thrift.list(4, ThriftType.STRUCT, this.rowGroupMeta.length);
    for (const group of this.rowGroupMeta) {
      thrift.begin();
      thrift.list(1, ThriftType.STRUCT, group.chunks.length);
      for (const chunk of group.chunks) this.writeChunkMeta(thrift, chunk);
      thrift.i64(2, group.uncompressed);
      thrift.i64(3, group.rows);
      thrift.i64(5, group.offset);
      thrift.i64(6, group.compressed);
      thrift.end();
    }
    const metadata = Object.entries(this.options.keyValueMetadata ?? {});
    if (metadata.length) {
      thrift.list(5, ThriftType.STRUCT, metadata.length);
      for (const [key, value] of metadata) {
        thrift.begin();
        thrift.binary(1, key);
        thrift.binary(2, value);
        thrift.end();
      }
    }
    thrift.binary(6, 'audit-export OCSF normalizer');
    // column_orders: TypeDefinedOrder for every leaf (what makes min/max statistics usable).
    thrift.list(7, ThriftType.STRUCT, leaves.length);
    for (let index = 0; index < leaves.length; index++) {
      thrift.begin();
      thrift.struct(1);
      thrift.end();
      thrift.end();
    }
    thrift.end();
  }

  private writeChunkMeta(thrift: CompactWriter, chunk: ChunkMeta): void {
    thrift.begin();
    thrift.i64(2, chunk.offset);
    thrift.struct(3);
    thrift.i32(1, TYPE_IDS[chunk.leaf.type]);
    const encodings = chunk.dictionary ? [ENCODING.PLAIN, ENCODING.RLE, ENCODING.RLE_DICTIONARY] : [ENCODING.PLAIN, ENCODING.RLE];
    thrift.list(2, ThriftType.I32, encodings.length);
    for (const encoding of encodings) thrift.i32Value(encoding);
    thrift.list(3, ThriftType.BINARY, chunk.leaf.path.length);
    for (const name of chunk.leaf.path) thrift.binaryValue(name);
    thrift.i32(4, CODEC_IDS[this.codec]);
    thrift.i64(5, chunk.values);
    thrift.i64(6, chunk.uncompressed);
    thrift.i64(7, chunk.compressed);
    thrift.i64(9, chunk.dataPageOffset);
    if (chunk.dictionaryPageOffset !== undefined) thrift.i64(11, chunk.dictionaryPageOffset);
    if (chunk.statistics) {
      // Both the deprecated (max, min) and the current (max_value, min_value) fields: signed integers order alike.
      thrift.struct(12);
      thrift.binary(1, chunk.statistics.max);
      thrift.binary(2, chunk.statistics.min);
      thrift.i64(3, chunk.statistics.nulls);
      thrift.binary(5, chunk.statistics.max);
      thrift.binary(6, chunk.statistics.min);
      thrift.end();
    }
    thrift.end();
    thrift.end();
  }

  /** Hands the bytes so far to the sink (a copy: the buffer is reused), waiting while it is full. */
  private flush(): Promise<void> | void {
    if (!this.out.length) return;
    const bytes = Buffer.from(this.out.subarray());
    this.flushed += this.out.length;
    this.out.clear();
    if (this.sink.write(bytes)) return;
    return new Promise((resolve, reject) => {
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
}

const MAGIC = Buffer.from('PAR1');
