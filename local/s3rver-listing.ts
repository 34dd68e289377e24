import { createRequire } from 'node:module';

/**
 * ListObjects on s3rver in S3's order. s3rver walks its directories in the order the file system returns
 * them and applies `marker` to that walk, so keys are not in key order: `…/filters=all/…` may come before
 * `…/filters=all-csv/…` although `-` sorts before `/`, and a listing paged with markers then repeats keys
 * or skips them. S3 lists keys in UTF-8 binary order; here every matching key is collected, sorted that way,
 * and the page cut from it.
 */
export function listObjectsLikeS3(server: unknown): void {
  const { store } = server as { store: ListingStore };
  store.listObjects = (bucket, options) => listInKeyOrder(store, bucket, options);
}

interface ListOptions {
  delimiter?: string;
  startAfter?: string;
  prefix?: string;
  maxKeys?: number;
}

/** The parts of s3rver's FilesystemStore (lib/stores/filesystem.js) the listing override uses. */
interface ListingStore {
  getBucketPath(bucket: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
  listObjects(bucket: string, options: ListOptions): Promise<{ objects: unknown[]; commonPrefixes: string[]; isTruncated: boolean }>;
}

const requireS3rver = createRequire(import.meta.url);
const { walk } = requireS3rver('s3rver/lib/utils.js') as { walk: (dir: string, recurse: (dirPath: string) => boolean) => Iterable<string> };
const S3Object = requireS3rver('s3rver/lib/models/object.js') as new (bucket: string, key: string, content: null, metadata: Record<string, string>) => unknown;
const OBJECT_SUFFIX = '._S3rver_object';

async function listInKeyOrder(store: ListingStore, bucket: string, options: ListOptions) {
  const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
  const bucketPath = store.getBucketPath(bucket);
  const prefixPath = `${bucketPath}/${prefix}`;
  const keys: string[] = [];
  // Only directories that can hold keys with the prefix (s3rver keeps one file per key, its path the key).
  for (const file of walk(bucketPath, (dirPath) => dirPath.startsWith(prefixPath) || prefixPath.startsWith(`${dirPath}/`))) {
    if (!file.endsWith(OBJECT_SUFFIX)) continue;
    const key = file.slice(bucketPath.length + 1, -OBJECT_SUFFIX.length);
    if (key.startsWith(prefix)) keys.push(key);
  }
  keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const commonPrefixes = new Set<string>();
  const page: string[] = [];
  let isTruncated = false;
  for (const key of keys) {
    if (Buffer.compare(Buffer.from(key), Buffer.from(startAfter)) <= 0) continue;
    const at = delimiter ? key.slice(prefix.length).indexOf(delimiter) : -1;
    if (at !== -1) {
      commonPrefixes.add(key.slice(0, prefix.length + at + 1));
      continue;
    }
    if (page.length >= maxKeys) {
      isTruncated = true;
      break;
    }
    page.push(key);
  }
  const objects: unknown[] = [];
  for (const key of page) {
    const metadata = await store.getMetadata(bucket, key).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (metadata) objects.push(new S3Object(bucket, key, null, metadata));
  }
  return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated };
}
