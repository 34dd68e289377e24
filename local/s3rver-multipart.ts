import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * Multipart uploads on s3rver as S3 does them, installed on one server instance:
 * - CompleteMultipartUpload: s3rver re-reads every part through 64 KiB JS streams, MD5-hashes the whole
 *   object on the way (about 6 s of CPU per GB) and answers with that MD5 as the ETag, which is not what
 *   S3 returns. Here the parts are validated as S3 does (ascending order, each uploaded with the given
 *   ETag), concatenated with large buffers, and the ETag is S3's multipart one.
 * - AbortMultipartUpload: s3rver answers 405; here the upload is removed (204) so a failed export leaves
 *   no upload behind, and an unknown one is 404 NoSuchUpload.
 */
export function completeMultipartUploadsLikeS3(server: unknown): void {
  const { store, middleware } = server as { store: FilesystemStore; middleware: KoaMiddleware[] };
  store.putObjectMultipart = (bucket, uploadId, parts) => completeMultipartUpload(store, bucket, uploadId, parts);
  middleware.splice(middleware.length - 1, 0, abortMultipartUpload(store)); // before s3rver's router
}

/** The parts of s3rver's FilesystemStore (lib/stores/filesystem.js) the multipart override uses. */
interface FilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
  putObjectMultipart(
    bucket: string,
    uploadId: string,
    parts: { number: number; etag: string }[],
  ): Promise<{ md5: string; size: number }>;
}

// s3rver's own classes (CommonJS, no types): its error handler only keeps the code and status of an
// S3Error (anything else becomes a 500 InternalError), and S3Object normalises an upload's metadata.
const requireS3rver = createRequire(import.meta.url);
const S3Error = requireS3rver('s3rver/lib/models/error.js') as new (
  code: string,
  message: string,
  detail?: Record<string, string>,
) => Error;
const S3Object = requireS3rver('s3rver/lib/models/object.js') as new (
  bucket: string,
  key: string,
  content: null,
  metadata: Record<string, string>,
) => { metadata: Record<string, string> };

const COPY_CHUNK_BYTES = 8 * 1024 * 1024;

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  type: string;
}
type KoaMiddleware = (context: KoaContext, next: () => Promise<void>) => Promise<void>;

/** DELETE /<bucket>/<key>?uploadId=…: 204 once the upload's parts are gone, 404 NoSuchUpload if there is no such upload. */
function abortMultipartUpload(store: FilesystemStore): KoaMiddleware {
  return async (context, next) => {
    const uploadId = context.query.uploadId;
    const match = /^\/([^/]+)\/(.+)$/.exec(context.path);
    if (context.method !== 'DELETE' || typeof uploadId !== 'string' || !match) return next();
    const bucket = match[1]!;
    const uploadDir = path.join(store.getResourcePath(bucket, undefined, 'uploads'), path.basename(uploadId));
    const key = await readFile(path.join(uploadDir, 'key'), 'utf8').catch(() => undefined);
    if (key === undefined || key !== decodeURIComponent(match[2]!)) {
      context.status = 404;
      context.type = 'application/xml';
      context.body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist. ' +
        'The upload ID may be invalid, or the upload may have been aborted or completed.</Message></Error>';
      return;
    }
    await rm(uploadDir, { recursive: true, force: true });
    context.status = 204;
  };
}

/**
 * CompleteMultipartUpload as S3 does it: parts listed in ascending order, each uploaded with the
 * given ETag; the object is the parts' bytes concatenated (written beside the object, then renamed
 * into place) and its ETag is md5(md5(part 1) ‖ … ‖ md5(part n)) + "-n".
 */
async function completeMultipartUpload(
  store: FilesystemStore,
  bucket: string,
  uploadId: string,
  parts: { number: number; etag: string }[],
): Promise<{ md5: string; size: number }> {
  const uploadDir = path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  const [key, uploadMetadata] = await Promise.all([
    readFile(path.join(uploadDir, 'key'), 'utf8'),
    readFile(path.join(uploadDir, 'metadata'), 'utf8').then((text) => JSON.parse(text) as Record<string, string>),
  ]).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
    throw new S3Error(
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      { UploadId: uploadId },
    );
  });
  // Validates the storage class and fills in the default content type, as s3rver's putObject path does.
  const { metadata } = new S3Object(bucket, key, null, uploadMetadata);

  for (let i = 1; i < parts.length; i++) {
    if (parts[i]!.number <= parts[i - 1]!.number) {
      throw new S3Error(
        'InvalidPartOrder',
        'The list of parts was not in ascending order. The parts list must be specified in order by part number.',
      );
    }
  }
  const invalidPart = () =>
    new S3Error(
      'InvalidPart',
      "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
    );
  const stored = await Promise.all(
    parts.map(async (part) => {
      if (!Number.isInteger(part.number) || part.number < 1 || part.number > 10_000) throw invalidPart();
      const partPath = path.join(uploadDir, String(part.number));
      try {
        const [md5, { size }] = await Promise.all([readFile(`${partPath}.md5`, 'utf8'), stat(partPath)]);
        if (md5.trim().toLowerCase() !== part.etag.trim().toLowerCase()) throw invalidPart();
        return { path: partPath, md5: md5.trim(), size };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw invalidPart();
        throw error;
      }
    }),
  );

  const objectPath = store.getResourcePath(bucket, key, 'object');
  await mkdir(path.dirname(objectPath), { recursive: true });
  // Not ending in "._S3rver_object", so listings never show it.
  const temporaryPath = `${objectPath}.${uploadId}.partial`;
  let size = 0;
  let etag: string;
  try {
    const destination = await open(temporaryPath, 'w');
    try {
      const buffer = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
      for (const part of stored) {
        const source = await open(part.path, 'r');
        try {
          for (;;) {
            const { bytesRead } = await source.read(buffer, 0, buffer.length, null);
            if (bytesRead === 0) break;
            let written = 0;
            while (written < bytesRead) {
              written += (await destination.write(buffer, written, bytesRead - written, null)).bytesWritten;
            }
            size += bytesRead;
          }
        } finally {
          await source.close();
        }
      }
    } finally {
      await destination.close();
    }
    const digests = createHash('md5');
    for (const part of stored) digests.update(Buffer.from(part.md5, 'hex'));
    etag = `${digests.digest('hex')}-${stored.length}`;
    // ETag and metadata first, then the bytes: s3rver's getMetadata recomputes (and rewrites) a
    // plain MD5 for an object whose .md5 file is missing, which a reader could race us into.
    await store.putMetadata(bucket, key, metadata, etag);
    await rename(temporaryPath, objectPath);
  } catch (error) {
    await rm(temporaryPath, { force: true });
    throw error;
  }
  await rm(uploadDir, { recursive: true, force: true });
  return { md5: etag, size };
}
