/**
 * Streams a zip archive holding one deflated file, without knowing its size in advance.
 *
 * Layout: local file header with general-purpose flag bit 3 (CRC and sizes are zero there and follow the
 * data in a data descriptor), raw deflate data, data descriptor, central directory, end record.
 * The CRC-32 is computed incrementally (zlib.crc32) while the content streams through deflate.
 * No ZIP64: the file and the archive must stay below 4 GiB, far above any page this emulator serves;
 * past that the stream fails rather than writing a corrupt archive.
 */
import { once } from 'node:events';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createDeflateRaw } from 'node:zlib';

const FLAG_SIZES_IN_DESCRIPTOR = 0x0008;
const FLAG_UTF8_NAME = 0x0800;
const FLAGS = FLAG_SIZES_IN_DESCRIPTOR | FLAG_UTF8_NAME;
const METHOD_DEFLATE = 8;
const VERSION_NEEDED = 20;
const VERSION_MADE_BY_UNIX = (3 << 8) | VERSION_NEEDED;
const UNIX_FILE_MODE = 0o100644;
const ZIP32_LIMIT = 0xffff_ffff;

function dosDateTime(instant: Date): { time: number; date: number } {
  const year = Math.max(1980, instant.getUTCFullYear());
  return {
    time: (instant.getUTCHours() << 11) | (instant.getUTCMinutes() << 5) | (instant.getUTCSeconds() >> 1),
    date: ((year - 1980) << 9) | ((instant.getUTCMonth() + 1) << 5) | instant.getUTCDate(),
  };
}

function localFileHeader(name: Buffer, time: number, date: number): Buffer {
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(VERSION_NEEDED, 4);
  header.writeUInt16LE(FLAGS, 6);
  header.writeUInt16LE(METHOD_DEFLATE, 8);
  header.writeUInt16LE(time, 10);
  header.writeUInt16LE(date, 12);
  // CRC-32 and both sizes (14..25) stay zero: they follow the data, in the descriptor.
  header.writeUInt16LE(name.length, 26);
  header.writeUInt16LE(0, 28);
  return Buffer.concat([header, name]);
}

interface Entry {
  name: Buffer;
  time: number;
  date: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
}

function dataDescriptor(entry: Entry): Buffer {
  const descriptor = Buffer.alloc(16);
  descriptor.writeUInt32LE(0x08074b50, 0);
  descriptor.writeUInt32LE(entry.crc, 4);
  descriptor.writeUInt32LE(entry.compressedSize, 8);
  descriptor.writeUInt32LE(entry.uncompressedSize, 12);
  return descriptor;
}

function centralDirectory(entry: Entry, centralOffset: number): Buffer {
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(VERSION_MADE_BY_UNIX, 4);
  header.writeUInt16LE(VERSION_NEEDED, 6);
  header.writeUInt16LE(FLAGS, 8);
  header.writeUInt16LE(METHOD_DEFLATE, 10);
  header.writeUInt16LE(entry.time, 12);
  header.writeUInt16LE(entry.date, 14);
  header.writeUInt32LE(entry.crc, 16);
  header.writeUInt32LE(entry.compressedSize, 20);
  header.writeUInt32LE(entry.uncompressedSize, 24);
  header.writeUInt16LE(entry.name.length, 28);
  // extra length, comment length, disk number, internal attributes: zero (30..37)
  header.writeUInt32LE((UNIX_FILE_MODE << 16) >>> 0, 38);
  header.writeUInt32LE(0, 42); // the local header is at the start of the archive
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + entry.name.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  return Buffer.concat([header, entry.name, end]);
}

function measuring(onChunk: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        onChunk(chunk);
        callback(null, chunk);
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}

/** Writes the whole archive to `sink` and ends it; rejects if the sink fails or closes early. */
export async function writeSingleFileZip(
  sink: Writable,
  fileName: string,
  content: Iterable<string | Buffer> | AsyncIterable<string | Buffer>,
  modifiedAt = new Date(),
): Promise<void> {
  const name = Buffer.from(fileName, 'utf8');
  const { time, date } = dosDateTime(modifiedAt);
  const entry: Entry = { name, time, date, crc: 0, compressedSize: 0, uncompressedSize: 0 };
  const header = localFileHeader(name, time, date);
  if (!sink.write(header)) await once(sink, 'drain');

  const checksum = measuring((chunk) => {
    entry.crc = crc32(chunk, entry.crc);
    entry.uncompressedSize += chunk.length;
    if (entry.uncompressedSize > ZIP32_LIMIT) throw new RangeError('zip entry over 4 GiB needs ZIP64, which this writer does not implement');
  });
  const countCompressed = measuring((chunk) => {
    entry.compressedSize += chunk.length;
    if (header.length + entry.compressedSize > ZIP32_LIMIT) throw new RangeError('zip archive over 4 GiB needs ZIP64');
  });
  await pipeline(Readable.from(content), checksum, createDeflateRaw(), countCompressed, sink, { end: false });

  const descriptor = dataDescriptor(entry);
  sink.end(Buffer.concat([descriptor, centralDirectory(entry, header.length + entry.compressedSize + descriptor.length)]));
}
