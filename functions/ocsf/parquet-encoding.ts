/**
 * The byte-level pieces of a Parquet file (https://parquet.apache.org/docs/file-format/): a growable byte buffer,
 * the RLE / bit-packing hybrid (levels and dictionary indexes), PLAIN values, and the Thrift compact protocol the
 * page headers and the footer are written in. Only what functions/ocsf/parquet.ts writes.
 */

/** Strings up to this length are tried as ASCII, written without Buffer.write. */
const SHORT_STRING = 96;

/** Bytes appended at the end, grown by doubling; `view` reads and writes numbers little-endian. */
export class ByteBuffer {
  bytes: Buffer;
  view: DataView;
  length = 0;

  constructor(capacity = 64 * 1024) {
    this.bytes = Buffer.allocUnsafe(capacity);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  /** Makes room for `extra` more bytes. */
  reserve(extra: number): void {
    if (this.length + extra > this.bytes.length) this.grow(this.length + extra);
  }

  private grow(needed: number): void {
    let capacity = this.bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const next = Buffer.allocUnsafe(capacity);
    this.bytes.copy(next, 0, 0, this.length);
    this.bytes = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  /** A signed 64-bit integer given as a safe JS integer (epoch milliseconds and the like). */
  i64(value: number): void {
    this.reserve(8);
    const high = Math.floor(value / 4294967296);
    this.view.setUint32(this.length, value - high * 4294967296, true);
    this.view.setInt32(this.length + 4, high, true);
    this.length += 8;
  }

  /** Unsigned LEB128, for values up to 2^53. */
  varint(value: number): void {
    this.reserve(8);
    while (value >= 0x80) {
      this.bytes[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.bytes[this.length++] = value;
  }

  append(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** A PLAIN BYTE_ARRAY value: its UTF-8 length (4 bytes) and bytes. Returns the bytes written in all. */
  lengthPrefixedUtf8(text: string): number {
    const length = text.length;
    this.reserve(4 + length * 3);
    const at = this.length;
    if (length <= SHORT_STRING) {
      // Short ASCII strings (ids, times, URLs) byte by byte: cheaper than a call into the runtime for each value.
      const bytes = this.bytes;
      let index = 0;
      for (; index < length; index++) {
        const code = text.charCodeAt(index);
        if (code >= 0x80) break;
        bytes[at + 4 + index] = code;
      }
      if (index === length) {
        this.view.setUint32(at, length, true);
        this.length = at + 4 + length;
        return 4 + length;
      }
    }
    const written = this.bytes.write(text, at + 4);
    this.view.setUint32(at, written, true);
    this.length = at + 4 + written;
    return 4 + written;
  }

  subarray(start = 0, end = this.length): Buffer {
    return this.bytes.subarray(start, end);
  }

  clear(): void {
    this.length = 0;
  }
}

/** Bits needed for values 0…max. */
export function bitWidth(max: number): number {
  return max <= 0 ? 0 : 32 - Math.clz32(max);
}

/**
 * The RLE / bit-packing hybrid of values[from, to) at `width` bits: runs of 8 or more equal values as RLE runs,
 * the rest bit-packed in groups of 8 (the last group padded with zeros; the page's value count says where it ends).
 */
export function writeRleHybrid(out: ByteBuffer, values: ArrayLike<number>, from: number, to: number, width: number): void {
  let at = from;
  let packedFrom = -1;
  let groups = 0;
  while (at < to) {
    const value = values[at]!;
    let end = at + 1;
    while (end < to && values[end] === value) end++;
    if (end - at >= 8) {
      if (groups) writeBitPacked(out, values, packedFrom, groups, to, width);
      groups = 0;
      out.varint((end - at) * 2);
      for (let byte = 0; byte < width; byte += 8) out.u8((value >>> byte) & 0xff);
      at = end;
    } else {
      if (!groups) packedFrom = at;
      groups++;
      at += 8;
    }
  }
  if (groups) writeBitPacked(out, values, packedFrom, groups, to, width);
}

function writeBitPacked(out: ByteBuffer, values: ArrayLike<number>, from: number, groups: number, to: number, width: number): void {
  out.varint(groups * 2 + 1);
  out.reserve(groups * width);
  const bytes = out.bytes;
  let length = out.length;
  let buffer = 0;
  let bits = 0;
  const end = from + groups * 8;
  for (let at = from; at < end; at++) {
    buffer |= (at < to ? values[at]! : 0) << bits;
    bits += width;
    while (bits >= 8) {
      bytes[length++] = buffer & 0xff;
      buffer >>>= 8;
      bits -= 8;
    }
  }
  out.length = length;
}

/** Thrift compact protocol types. */
export const ThriftType = { TRUE: 1, FALSE: 2, I32: 5, I64: 6, BINARY: 8, LIST: 9, STRUCT: 12 } as const;

const zigzag = (value: number) => (value >= 0 ? value * 2 : -value * 2 - 1);

/**
 * Writes Thrift structs in the compact protocol, field by field (ids ascending within a struct), as the
 * Parquet format's page headers and FileMetaData are defined (parquet.thrift).
 */
export class CompactWriter {
  private lastField = 0;
  private readonly outer: number[] = [];

  constructor(readonly out: ByteBuffer) {}

  private field(id: number, type: number): void {
    const delta = id - this.lastField;
    if (delta > 0 && delta <= 15) this.out.u8((delta << 4) | type);
    else {
      this.out.u8(type);
      this.out.varint(zigzag(id));
    }
    this.lastField = id;
  }

  i32(id: number, value: number): void {
    this.field(id, ThriftType.I32);
    this.out.varint(zigzag(value));
  }

  i64(id: number, value: number): void {
    this.field(id, ThriftType.I64);
    this.out.varint(zigzag(value));
  }

  bool(id: number, value: boolean): void {
    this.field(id, value ? ThriftType.TRUE : ThriftType.FALSE);
  }

  binary(id: number, value: string | Uint8Array): void {
    this.field(id, ThriftType.BINARY);
    this.binaryValue(value);
  }

  binaryValue(value: string | Uint8Array): void {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    this.out.varint(bytes.length);
    this.out.append(bytes);
  }

  i32Value(value: number): void {
    this.out.varint(zigzag(value));
  }

  /** A struct field: its fields follow, then `end()`. */
  struct(id: number): void {
    this.field(id, ThriftType.STRUCT);
    this.begin();
  }

  /** A struct as a list element or the top-level struct. */
  begin(): void {
    this.outer.push(this.lastField);
    this.lastField = 0;
  }

  end(): void {
    this.out.u8(0);
    this.lastField = this.outer.pop() ?? 0;
  }

  /** A list field of `size` elements of `elementType`: the elements follow (structs with begin()/end()). */
  list(id: number, elementType: number, size: number): void {
    this.field(id, ThriftType.LIST);
    if (size < 15) this.out.u8((size << 4) | elementType);
    else {
      this.out.u8(0xf0 | elementType);
      this.out.varint(size);
    }
  }
}
