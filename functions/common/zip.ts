import { crc32, inflateRawSync } from 'node:zlib';
import { MalformedResponseError } from './errors.js';

/**
 * Reads the entries of a zip held in memory. Used for one CSV page of the Xray API at a time (a page is
 * bounded by num_of_rows, never a whole export). Sizes come from the central directory, so entries
 * written with data descriptors (streamed zips) read correctly. Stored and deflated entries only.
 *
 * Limits, because a zip can declare 200 bytes and inflate to gigabytes: every entry inflates to at most its
 * declared size (zlib counts the output as it goes and stops there), and all entries together declare at
 * most `maxBytes`, checked before anything is inflated. Memory stays within `maxBytes` plus one zlib chunk.
 */
export interface ZipEntry {
  name: string;
  data: Buffer;
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const ZIP64_MARKER = 0xffffffff;

/** Default cap on what one zip may inflate to in all: a few hundred MiB (see functions/xray/client.ts). */
export const DEFAULT_MAX_INFLATED_BYTES = 384 * 1024 * 1024;

export interface ReadZipOptions {
  /** The inflated size of all entries together, at most. */
  maxBytes?: number;
}

export function readZip(zip: Buffer, what: string, options: ReadZipOptions = {}): ZipEntry[] {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INFLATED_BYTES;
  const fail = (problem: string): never => {
    throw new MalformedResponseError(`${what} is not a readable zip file: ${problem}`);
  };
  // The end-of-central-directory record sits within the last 22 + 65,535 bytes (its comment is at most 64 KiB).
  let eocd = -1;
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff); at--) {
    if (zip.readUInt32LE(at) === EOCD_SIGNATURE) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) {
    const start = zip.subarray(0, 64).toString('utf8').trimStart();
    return fail(start.startsWith('<') || start.startsWith('{') ? 'the server sent text, not a zip' : 'no end-of-central-directory record');
  }
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  // First the whole directory, so the declared sizes are checked against the limit before anything inflates.
  const directory: { name: string; method: number; expectedCrc: number; compressedSize: number; size: number; localOffset: number }[] = [];
  let declared = 0;
  for (let index = 0; index < count; index++) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== CENTRAL_SIGNATURE) fail(`central directory entry ${index} is damaged`);
    const nameLength = zip.readUInt16LE(at + 28);
    const entry = {
      name: zip.subarray(at + 46, at + 46 + nameLength).toString('utf8'),
      method: zip.readUInt16LE(at + 10),
      expectedCrc: zip.readUInt32LE(at + 16),
      compressedSize: zip.readUInt32LE(at + 20),
      size: zip.readUInt32LE(at + 24),
      localOffset: zip.readUInt32LE(at + 42),
    };
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    if ([entry.size, entry.compressedSize, entry.localOffset].includes(ZIP64_MARKER)) fail(`${entry.name} is a zip64 entry (not supported)`);
    declared += entry.size;
    if (declared > maxBytes) {
      fail(`${entry.name} declares ${entry.size} bytes, beyond the limit of ${maxBytes} bytes (all entries together) for this ${what.replace(/^Xray /, '')}`);
    }
    directory.push(entry);
  }
  const entries: ZipEntry[] = [];
  for (const { name, method, expectedCrc, compressedSize, size, localOffset } of directory) {
    if (localOffset + 30 > zip.length || zip.readUInt32LE(localOffset) !== LOCAL_SIGNATURE) fail(`local header of ${name} is damaged`);
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    if (dataStart + compressedSize > zip.length) fail(`${name} is truncated`);
    const raw = zip.subarray(dataStart, dataStart + compressedSize);
    let data: Buffer;
    if (method === 0) data = Buffer.from(raw);
    else if (method === 8) {
      try {
        // zlib counts its output as it inflates and stops past maxOutputLength: a bomb costs its declared size, no more.
        data = inflateRawSync(raw, { maxOutputLength: Math.max(1, size) });
      } catch (error) {
        if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return fail(`${name} inflates past its declared ${size} bytes`);
        return fail(`${name} does not inflate`);
      }
    } else return fail(`${name} uses compression method ${method} (only stored and deflate are supported)`);
    if (data.length !== size || crc32(data) !== expectedCrc) fail(`${name} fails its length or CRC check`);
    entries.push({ name, data });
  }
  return entries;
}
