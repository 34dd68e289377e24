import { Writable } from 'node:stream';
import { crc32 } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';

/**
 * A writable stream that stores what is written into one S3 object: a single PutObject when it all fits in
 * one part, else a multipart upload with up to `queueSize` parts in flight. It sends the same requests as
 * the SDK's `@aws-sdk/lib-storage` Upload (CRC32 checksums declared at CreateMultipartUpload when the client
 * computes them, each part's checksum passed back at completion), with one difference that matters for
 * multi-gigabyte copies: part buffers are reused. A fresh 8 MiB buffer per part costs page faults on first
 * touch and, being external memory, pushes V8 into a full garbage collection every few parts (about 8 CPU-s
 * per 2 GB copied, measured). The buffers come from a small pool kept between uploads and invocations.
 * Each part's CRC32 is computed here, chunk by chunk as the bytes are copied in (native zlib.crc32, on bytes
 * still in the cache), and sent with the part: the SDK then does not read the part a second time for it.
 *
 * A failure (of the source, a part or the completion) aborts the multipart upload once the parts in flight
 * have settled, so nothing partial becomes visible and no stray part keeps costing storage.
 */

export interface ObjectParams {
  Bucket: string;
  Key: string;
  ContentType?: string;
  ContentEncoding?: string;
  Metadata?: Record<string, string>;
}

/** S3's limit on parts per upload. */
const MAX_PARTS = 10_000;
/** S3's smallest part (all but the last); smaller settings would fail at completion. */
const MIN_PART_BYTES = 5 * 1024 * 1024;

export class MultipartSink extends Writable {
  private readonly pool: BufferPool;
  private current: Buffer | undefined;
  private filled = 0;
  /** CRC32 of the current part's bytes so far. */
  private crc = 0;
  private partNumber = 0;
  private uploadId: Promise<string> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts: CompletedPart[] = [];
  private failure: Error | undefined;

  constructor(
    private readonly s3: S3Client,
    private readonly params: ObjectParams,
    private readonly partSize: number,
    private readonly queueSize: number,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    if (partSize < MIN_PART_BYTES) throw new RangeError(`partSize ${partSize} is below S3's minimum part size of 5 MiB`);
    if (!Number.isInteger(queueSize) || queueSize < 1) throw new RangeError(`queueSize must be a positive integer, got ${queueSize}`);
    this.pool = poolFor(partSize);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.append(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finish().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A write still waiting for a free slot must not send another part once the upload is being aborted.
    this.failure ??= error ?? new Error(`The upload of ${this.params.Key} was stopped`);
    this.abort().then(
      () => callback(error),
      () => callback(error),
    );
  }

  private async append(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.failure) throw this.failure;
      // A full part goes once more bytes arrive: the last part (or a one-part object) is sent by finish().
      if (this.filled === this.partSize) await this.sendPart();
      this.current ??= this.pool.take();
      const copied = chunk.copy(this.current, this.filled, at);
      this.crc = crc32(this.current.subarray(this.filled, this.filled + copied), this.crc);
      this.filled += copied;
      at += copied;
    }
  }

  private async finish(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.partNumber === 0) {
      // Everything fits in one part: a plain PutObject.
      const buffer = this.current;
      try {
        await this.s3.send(
          new PutObjectCommand({ ...this.params, Body: buffer ? buffer.subarray(0, this.filled) : Buffer.alloc(0), ...(await this.checksum(this.crc)) }),
        );
      } finally {
        if (buffer) this.pool.give(buffer);
        this.current = undefined;
      }
      return;
    }
    if (this.filled > 0) await this.sendPart();
    await this.settle();
    if (this.failure) throw this.failure;
    const parts = [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
    await this.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.params.Bucket,
        Key: this.params.Key,
        UploadId: await this.uploadId!,
        MultipartUpload: { Parts: parts },
      }),
    );
    this.uploadId = undefined; // completed: nothing to abort
  }

  /** Sends the current buffer as the next part once a slot is free; the buffer returns to the pool after. */
  private async sendPart(): Promise<void> {
    while (this.inFlight.size >= this.queueSize) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    if (this.partNumber >= MAX_PARTS) {
      throw new Error(`${this.params.Key} would need more than ${MAX_PARTS} parts of ${this.partSize} bytes; raise the part size`);
    }
    const buffer = this.current!;
    const length = this.filled;
    const crc = this.crc;
    const partNumber = ++this.partNumber;
    this.current = undefined;
    this.filled = 0;
    this.crc = 0;
    this.uploadId ??= this.createUpload();
    const sent = this.uploadId
      .then(async (uploadId) =>
        this.s3.send(
          new UploadPartCommand({
            Bucket: this.params.Bucket,
            Key: this.params.Key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: buffer.subarray(0, length),
            ...(await this.checksum(crc)),
          }),
        ),
      )
      .then((result) => {
        if (!result.ETag) throw new Error(`S3 answered part ${partNumber} of ${this.params.Key} without an ETag`);
        this.parts.push({
          PartNumber: partNumber,
          ETag: result.ETag,
          ...(result.ChecksumCRC32 && { ChecksumCRC32: result.ChecksumCRC32 }),
          ...(result.ChecksumCRC32C && { ChecksumCRC32C: result.ChecksumCRC32C }),
          ...(result.ChecksumCRC64NVME && { ChecksumCRC64NVME: result.ChecksumCRC64NVME }),
          ...(result.ChecksumSHA1 && { ChecksumSHA1: result.ChecksumSHA1 }),
          ...(result.ChecksumSHA256 && { ChecksumSHA256: result.ChecksumSHA256 }),
        });
      })
      .catch((error: Error) => {
        this.failure ??= error;
      })
      .finally(() => {
        // The request is over (retries included): nothing reads the buffer any more.
        this.pool.give(buffer);
        this.inFlight.delete(sent);
      });
    this.inFlight.add(sent);
  }

  /** The part's CRC32 as S3 takes it (base64, big-endian), when the client sends checksums (as it does by default). */
  private async checksum(crc: number): Promise<{ ChecksumCRC32?: string }> {
    if ((await this.s3.config.requestChecksumCalculation()) !== 'WHEN_SUPPORTED') return {};
    const bytes = Buffer.allocUnsafe(4);
    bytes.writeUInt32BE(crc >>> 0);
    return { ChecksumCRC32: bytes.toString('base64') };
  }

  private async createUpload(): Promise<string> {
    const checksums = await this.s3.config.requestChecksumCalculation();
    const created = await this.s3.send(
      new CreateMultipartUploadCommand({
        ...this.params,
        ...(checksums === 'WHEN_SUPPORTED' && { ChecksumAlgorithm: ChecksumAlgorithm.CRC32 }),
      }),
    );
    if (!created.UploadId) throw new Error(`S3 answered CreateMultipartUpload for ${this.params.Key} without an UploadId`);
    return created.UploadId;
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async abort(): Promise<void> {
    await this.settle();
    if (this.current) {
      this.pool.give(this.current);
      this.current = undefined;
    }
    const uploadId = await this.uploadId?.catch(() => undefined);
    this.uploadId = undefined;
    if (uploadId) {
      await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.params.Bucket, Key: this.params.Key, UploadId: uploadId }));
    }
  }
}

/** Buffers of one size, kept for reuse (at most `keep` of them idle). */
class BufferPool {
  private readonly idle: Buffer[] = [];

  constructor(
    private readonly size: number,
    private readonly keep: number,
  ) {}

  take(): Buffer {
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buffer: Buffer): void {
    if (this.idle.length < this.keep && !this.idle.includes(buffer)) this.idle.push(buffer);
  }
}

const pools = new Map<number, BufferPool>();

/** Enough idle buffers for a couple of concurrent uploads with a queue of 2 (8 MiB parts: 48 MiB at most). */
const IDLE_BUFFERS_KEPT = 6;

function poolFor(size: number): BufferPool {
  let pool = pools.get(size);
  if (!pool) pools.set(size, (pool = new BufferPool(size, IDLE_BUFFERS_KEPT)));
  return pool;
}
