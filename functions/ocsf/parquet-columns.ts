import { bitWidth, ByteBuffer, writeRleHybrid } from './parquet-encoding.js';

/**
 * One leaf column of a row group as it fills: its definition and repetition levels (one byte each per slot) and its
 * values in typed arrays, strings dictionary-encoded while that pays (else as PLAIN bytes). Everything the
 * shredder puts here is a number or bytes: a row group of events costs a few typed arrays, not objects.
 */

export type PhysicalType = 'BOOLEAN' | 'INT32' | 'INT64' | 'DOUBLE' | 'BYTE_ARRAY';

export interface LeafSpec {
  /** The path of the leaf in the schema (without the root). */
  path: string[];
  type: PhysicalType;
  maxDefinition: number;
  maxRepetition: number;
  /** BYTE_ARRAY from json_t: a value that is not a string is written as its JSON text. */
  json?: boolean;
  /** Min/max statistics in the column chunk (readers skip row groups by them). */
  statistics?: boolean;
}

/** A page's slots [slotStart, slotEnd) and the values they hold [valueStart, valueEnd). */
export interface PageRange {
  slotStart: number;
  slotEnd: number;
  valueStart: number;
  valueEnd: number;
}

/** Where each row's slots and values start (rows + 1 entries), from the repetition and definition levels. */
interface RowStarts {
  slots: Int32Array;
  values: Int32Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export abstract class LeafColumn {
  definitions: Uint8Array;
  repetitions: Uint8Array;
  /** Level pairs written (values and nulls, list elements included). */
  slots = 0;
  /** Values written (slots at the maximum definition level). */
  count = 0;

  constructor(readonly spec: LeafSpec, capacity: number) {
    this.definitions = new Uint8Array(capacity);
    this.repetitions = new Uint8Array(capacity);
  }

  protected level(definition: number, repetition: number): void {
    if (this.slots === this.definitions.length) {
      const definitions = new Uint8Array(Math.max(16, this.slots * 2));
      definitions.set(this.definitions);
      this.definitions = definitions;
      const repetitions = new Uint8Array(definitions.length);
      repetitions.set(this.repetitions);
      this.repetitions = repetitions;
    }
    this.definitions[this.slots] = definition;
    this.repetitions[this.slots] = repetition;
    this.slots++;
  }

  /** No value here: the path is defined down to `definition`. */
  absent(definition: number, repetition: number): void {
    this.level(definition, repetition);
  }

  /** A value (at the leaf's maximum definition level). */
  abstract put(value: unknown, repetition: number): void;

  protected fail(value: unknown, expected: string): never {
    throw new TypeError(`The OCSF attribute ${this.spec.path.filter((name) => name !== 'list' && name !== 'element' && name !== 'key_value').join('.')} must be ${expected} to be written to Parquet, got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : String(value)}`);
  }

  /** Bytes of values [from, to) as this column will write them (for page sizes). */
  protected abstract valueBytes(from: number, to: number): number;

  /** Writes values [from, to) in the column's encoding. */
  abstract writeValues(out: ByteBuffer, from: number, to: number): void;

  /** Decides the chunk's encoding once the row group is complete: the dictionary's entries, if it has one. */
  finishChunk(): { entries: number; write(out: ByteBuffer): void } | undefined {
    return undefined;
  }

  get encoding(): 'PLAIN' | 'RLE_DICTIONARY' {
    return 'PLAIN';
  }

  /** Min and max (8 or 4 bytes, little-endian) of the values, for numeric columns with statistics. */
  minMax(): { min: Buffer; max: Buffer } | undefined {
    return undefined;
  }

  /** Splits the chunk into pages of about `pageSize` bytes, each starting at a row (repetition level 0). */
  pages(pageSize: number): PageRange[] {
    const whole = { slotStart: 0, slotEnd: this.slots, valueStart: 0, valueEnd: this.count };
    if (this.valueBytes(0, this.count) + this.slots / 4 <= pageSize) return [whole];
    const pages: PageRange[] = [];
    const { definitions, repetitions } = this;
    const max = this.spec.maxDefinition;
    let slotStart = 0;
    let valueStart = 0;
    let value = 0;
    let levelBytes = 0;
    for (let slot = 0; slot < this.slots; slot++) {
      // A page ends before a row that would start past pageSize.
      if (repetitions[slot] === 0 && slot > slotStart && this.valueBytes(valueStart, value) + levelBytes >= pageSize) {
        pages.push({ slotStart, slotEnd: slot, valueStart, valueEnd: value });
        slotStart = slot;
        valueStart = value;
        levelBytes = 0;
      }
      levelBytes += 0.25;
      if (definitions[slot] === max) value++;
    }
    pages.push({ slotStart, slotEnd: this.slots, valueStart, valueEnd: this.count });
    return pages;
  }

  /** Reorders the rows (`order[i]`: the row that goes i-th), levels and values alike. */
  permute(order: Int32Array): void {
    const rows = order.length;
    const starts = this.rowStarts(rows);
    const definitions = new Uint8Array(this.definitions.length);
    const repetitions = new Uint8Array(this.repetitions.length);
    let at = 0;
    for (let index = 0; index < rows; index++) {
      const row = order[index]!;
      for (let slot = starts.slots[row]!, end = starts.slots[row + 1]!; slot < end; slot++) {
        definitions[at] = this.definitions[slot]!;
        repetitions[at++] = this.repetitions[slot]!;
      }
    }
    this.definitions = definitions;
    this.repetitions = repetitions;
    this.permuteValues(order, starts.values);
  }

  private rowStarts(rows: number): RowStarts {
    const slots = new Int32Array(rows + 1);
    const values = new Int32Array(rows + 1);
    const max = this.spec.maxDefinition;
    let row = -1;
    let value = 0;
    for (let slot = 0; slot < this.slots; slot++) {
      if (this.repetitions[slot] === 0) {
        row++;
        slots[row] = slot;
        values[row] = value;
      }
      if (this.definitions[slot] === max) value++;
    }
    if (row !== rows - 1) throw new Error(`Column ${this.spec.path.join('.')} holds ${row + 1} rows, the row group ${rows}`);
    slots[rows] = this.slots;
    values[rows] = this.count;
    return { slots, values };
  }

  /** Reorders the values row by row (`starts[row]`: the row's first value). */
  protected abstract permuteValues(order: Int32Array, starts: Int32Array): void;

  reset(): void {
    this.slots = 0;
    this.count = 0;
  }
}

/** Copies typed-array values row by row in `order`. */
function permuteTyped<T extends Int32Array | Float64Array | Uint8Array>(values: T, order: Int32Array, starts: Int32Array, create: (length: number) => T): T {
  const next = create(values.length);
  let at = 0;
  for (let index = 0; index < order.length; index++) {
    const row = order[index]!;
    for (let value = starts[row]!, end = starts[row + 1]!; value < end; value++) next[at++] = values[value]!;
  }
  return next;
}

function grow<T extends Int32Array | Float64Array | Uint8Array>(values: T, create: (length: number) => T): T {
  const next = create(Math.max(16, values.length * 2));
  next.set(values);
  return next;
}

/** Typed values as they are in memory, which is PLAIN (little-endian, as every Lambda CPU is), or one by one. */
function writeLittleEndian(out: ByteBuffer, values: Int32Array | Float64Array, from: number, to: number): void {
  const size = values.BYTES_PER_ELEMENT;
  if (LITTLE_ENDIAN) return out.append(Buffer.from(values.buffer, values.byteOffset + from * size, (to - from) * size));
  out.reserve((to - from) * size);
  for (let index = from; index < to; index++) {
    if (size === 4) out.view.setInt32(out.length, values[index]!, true);
    else out.view.setFloat64(out.length, values[index]!, true);
    out.length += size;
  }
}

/** Numbers (and booleans) held in a typed array. */
abstract class TypedColumn<Values extends Int32Array | Float64Array | Uint8Array> extends LeafColumn {
  protected values: Values;

  constructor(spec: LeafSpec, capacity: number, private readonly create: (length: number) => Values, private readonly expected: string) {
    super(spec, capacity);
    this.values = create(capacity);
  }

  /** The value as the array holds it, or undefined when it is not of the column's type. */
  protected abstract stored(value: unknown): number | undefined;

  put(value: unknown, repetition: number): void {
    const stored = this.stored(value);
    if (stored === undefined) this.fail(value, this.expected);
    this.level(this.spec.maxDefinition, repetition);
    if (this.count === this.values.length) this.values = grow(this.values, this.create);
    this.values[this.count++] = stored;
  }

  override minMax(): { min: Buffer; max: Buffer } | undefined {
    if (!this.spec.statistics || !this.count) return undefined;
    let min = 0;
    let max = 0;
    for (let index = 1; index < this.count; index++) {
      const value = this.values[index]!;
      if (value < this.values[min]!) min = index;
      else if (value > this.values[max]!) max = index;
    }
    // Statistics are values as PLAIN writes them.
    const bytes = (index: number) => {
      const buffer = new ByteBuffer(8);
      this.writeValues(buffer, index, index + 1);
      return Buffer.from(buffer.subarray());
    };
    return { min: bytes(min), max: bytes(max) };
  }

  protected permuteValues(order: Int32Array, starts: Int32Array): void {
    this.values = permuteTyped(this.values, order, starts, this.create);
  }
}

export class Int32Column extends TypedColumn<Int32Array> {
  constructor(spec: LeafSpec, capacity: number) {
    super(spec, capacity, (length) => new Int32Array(length), 'a 32-bit integer');
  }

  protected stored(value: unknown): number | undefined {
    return typeof value === 'number' && (value | 0) === value ? value : undefined;
  }

  protected valueBytes(from: number, to: number): number {
    return (to - from) * 4;
  }

  writeValues(out: ByteBuffer, from: number, to: number): void {
    writeLittleEndian(out, this.values, from, to);
  }
}

/** INT64 from safe JS integers (epoch milliseconds), held as doubles. */
export class Int64Column extends TypedColumn<Float64Array> {
  constructor(spec: LeafSpec, capacity: number) {
    super(spec, capacity, (length) => new Float64Array(length), 'an integer');
  }

  protected stored(value: unknown): number | undefined {
    return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
  }

  protected valueBytes(from: number, to: number): number {
    return (to - from) * 8;
  }

  writeValues(out: ByteBuffer, from: number, to: number): void {
    for (let index = from; index < to; index++) out.i64(this.values[index]!);
  }
}

export class DoubleColumn extends TypedColumn<Float64Array> {
  constructor(spec: LeafSpec, capacity: number) {
    super(spec, capacity, (length) => new Float64Array(length), 'a finite number');
  }

  protected stored(value: unknown): number | undefined {
    return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  }

  protected valueBytes(from: number, to: number): number {
    return (to - from) * 8;
  }

  writeValues(out: ByteBuffer, from: number, to: number): void {
    writeLittleEndian(out, this.values, from, to);
  }
}

export class BooleanColumn extends TypedColumn<Uint8Array> {
  constructor(spec: LeafSpec, capacity: number) {
    super(spec, capacity, (length) => new Uint8Array(length), 'a boolean');
  }

  protected stored(value: unknown): number | undefined {
    return typeof value === 'boolean' ? (value ? 1 : 0) : undefined;
  }

  protected valueBytes(from: number, to: number): number {
    return Math.ceil((to - from) / 8);
  }

  /** PLAIN booleans: bit-packed, least significant bit first. */
  writeValues(out: ByteBuffer, from: number, to: number): void {
    const length = Math.ceil((to - from) / 8);
    out.reserve(length);
    out.bytes.fill(0, out.length, out.length + length);
    for (let index = from; index < to; index++) if (this.values[index]) out.bytes[out.length + ((index - from) >> 3)]! |= 1 << ((index - from) & 7);
    out.length += length;
  }
}

/** Slots of a string column's direct-mapped cache of recent dictionary entries (a power of two). */
const RECENT_SLOTS = 256;

/** Distinct values past which a dictionary that holds more than a quarter of the values is given up. */
const DICTIONARY_PROBE = 1024;

/**
 * UTF-8 strings: dictionary-encoded (an index per value, each distinct string once) while that is smaller,
 * else PLAIN (length-prefixed bytes, as they go into the page). Columns of many distinct values (ids, times,
 * URLs: a map lookup per value costs more than zstd gains back) give the dictionary up after DICTIONARY_PROBE
 * entries; the rest decide at the end of the row group by size.
 */
export class StringColumn extends LeafColumn {
  private dictionary: Map<string, number> | undefined = new Map();
  /**
   * A direct-mapped cache in front of the map: the entry last put for a cheap key of the string (its length,
   * first, middle and last character), as index + 1. Comparing one candidate is much cheaper than hashing a string
   * just parsed, which the map lookup must do first (that was a quarter of an Xray event's CPU); most columns
   * hold a few distinct values, which rarely share that key.
   */
  private recent = new Int32Array(RECENT_SLOTS);
  private entries: string[] = [];
  private entryBytes: number[] = [];
  private dictionaryBytes = 0;
  private plainBytes = 0;
  private indexes: Int32Array;
  private plain = new ByteBuffer(1024);
  /** Where each PLAIN value starts in `plain` (count + 1 entries), built when pages or a permutation need it. */
  private offsets: Int32Array | undefined;

  constructor(spec: LeafSpec, capacity: number) {
    super(spec, capacity);
    this.indexes = new Int32Array(capacity);
  }

  put(value: unknown, repetition: number): void {
    let text: string;
    if (typeof value === 'string') text = value;
    else if (this.spec.json) text = JSON.stringify(value);
    else this.fail(value, 'a string');
    this.level(this.spec.maxDefinition, repetition);
    const dictionary = this.dictionary;
    if (!dictionary) {
      this.plain.lengthPrefixedUtf8(text);
      this.count++;
      return;
    }
    const length = text.length;
    const slot = length ? (length + 3 * text.charCodeAt(0) + 7 * text.charCodeAt(length >> 1) + 31 * text.charCodeAt(length - 1)) & (RECENT_SLOTS - 1) : 0;
    const recent = this.recent[slot]! - 1;
    let index = recent >= 0 && this.entries[recent] === text ? recent : dictionary.get(text);
    if (index === undefined) {
      index = this.entries.length;
      if (index >= DICTIONARY_PROBE && index * 4 > this.count) {
        this.toPlain();
        this.plain.lengthPrefixedUtf8(text);
        this.count++;
        return;
      }
      dictionary.set(text, index);
      this.entries.push(text);
      const bytes = Buffer.byteLength(text);
      this.entryBytes.push(bytes);
      this.dictionaryBytes += bytes + 4;
    }
    this.recent[slot] = index + 1;
    if (this.count === this.indexes.length) this.indexes = grow(this.indexes, (length) => new Int32Array(length));
    this.indexes[this.count++] = index;
    this.plainBytes += this.entryBytes[index]! + 4;
  }

  /** Gives the dictionary up: the values so far become PLAIN bytes. */
  private toPlain(): void {
    this.plain.clear();
    for (let index = 0; index < this.count; index++) this.plain.lengthPrefixedUtf8(this.entries[this.indexes[index]!]!);
    this.dictionary = undefined;
    this.entries = [];
    this.entryBytes = [];
  }

  override finishChunk(): { entries: number; write(out: ByteBuffer): void } | undefined {
    if (!this.dictionary) return undefined;
    const indexBytes = Math.ceil((this.count * bitWidth(this.entries.length - 1)) / 8);
    // No values (every slot null): no dictionary page either.
    if (!this.count || this.dictionaryBytes + indexBytes > this.plainBytes) {
      this.toPlain();
      return undefined;
    }
    const entries = this.entries;
    return {
      entries: entries.length,
      write: (out) => {
        for (const entry of entries) out.lengthPrefixedUtf8(entry);
      },
    };
  }

  override get encoding(): 'PLAIN' | 'RLE_DICTIONARY' {
    return this.dictionary ? 'RLE_DICTIONARY' : 'PLAIN';
  }

  protected valueBytes(from: number, to: number): number {
    if (this.dictionary) return Math.ceil(((to - from) * bitWidth(this.entries.length - 1)) / 8);
    if (from === 0 && to === this.count) return this.plain.length;
    const offsets = this.valueOffsets();
    return offsets[to]! - offsets[from]!;
  }

  private valueOffsets(): Int32Array {
    if (this.offsets) return this.offsets;
    const offsets = new Int32Array(this.count + 1);
    const view = this.plain.view;
    let at = 0;
    for (let index = 0; index < this.count; index++) {
      offsets[index] = at;
      at += 4 + view.getUint32(at, true);
    }
    offsets[this.count] = at;
    this.offsets = offsets;
    return offsets;
  }

  writeValues(out: ByteBuffer, from: number, to: number): void {
    if (this.dictionary) {
      const width = bitWidth(this.entries.length - 1);
      out.u8(width);
      writeRleHybrid(out, this.indexes, from, to, width);
      return;
    }
    if (from === 0 && to === this.count) return out.append(this.plain.subarray());
    const offsets = this.valueOffsets();
    out.append(this.plain.subarray(offsets[from], offsets[to]));
  }

  protected permuteValues(order: Int32Array, starts: Int32Array): void {
    if (this.dictionary) {
      this.indexes = permuteTyped(this.indexes, order, starts, (length) => new Int32Array(length));
      return;
    }
    const offsets = this.valueOffsets();
    const next = new ByteBuffer(this.plain.length || 1);
    for (let index = 0; index < order.length; index++) {
      const row = order[index]!;
      next.append(this.plain.subarray(offsets[starts[row]!], offsets[starts[row + 1]!]));
    }
    this.plain = next;
    this.offsets = undefined;
  }

  override reset(): void {
    super.reset();
    this.dictionary = new Map();
    this.recent.fill(0);
    this.entries = [];
    this.entryBytes = [];
    this.dictionaryBytes = 0;
    this.plainBytes = 0;
    this.plain.clear();
    this.offsets = undefined;
  }
}

export function createColumn(spec: LeafSpec, capacity: number): LeafColumn {
  switch (spec.type) {
    case 'INT32':
      return new Int32Column(spec, capacity);
    case 'INT64':
      return new Int64Column(spec, capacity);
    case 'DOUBLE':
      return new DoubleColumn(spec, capacity);
    case 'BOOLEAN':
      return new BooleanColumn(spec, capacity);
    case 'BYTE_ARRAY':
      return new StringColumn(spec, capacity);
  }
}
