import type { EventBridgeEvent } from 'aws-lambda';
import { z } from 'zod';
import { lazy } from '../common/config.js';
import { MANIFEST_NAME, verifyManifest, type ManifestCheck } from '../common/manifest.js';
import { createS3Client } from '../common/s3-writer.js';
import { parseInput } from '../common/validation.js';
import type { S3Client } from '@aws-sdk/client-s3';

/**
 * An example downstream consumer: triggered by the EventBridge "Object Created" event of a window's
 * manifest, it checks the window before anything would load it: every current object (`objects`) with its
 * size, SHA-256 and record count, the objects of older generations and kept short answers the manifest
 * names (present, same size), that nothing the manifest does not name sits in the folder, and that the
 * window holds at least what the vendor counted (`vendorCount`). Manifests of version 1 and 2 are read.
 * Load `objects` and nothing else; a manifest with a higher `generation` replaces (MFT) or extends (Xray,
 * whose new parts carry the new generation) what an earlier one listed. Replace the last line with your
 * own loading.
 *
 * EventBridge pattern (see README, "Consuming the exports"):
 *   { "source": ["aws.s3"], "detail-type": ["Object Created"],
 *     "detail": { "bucket": { "name": ["<bucket>"] }, "object": { "key": [{ "suffix": "/_manifest.json" }] } } }
 */

const eventSchema = z.object({
  detail: z.object({ bucket: z.object({ name: z.string() }), object: z.object({ key: z.string() }) }),
});

export function createVerifyManifestHandler(s3: () => Promise<S3Client>, log: (line: string) => void = console.log) {
  return async (event: EventBridgeEvent<'Object Created', unknown> | unknown): Promise<ManifestCheck & { key: string }> => {
    const { detail } = parseInput(eventSchema, event, 'S3 Object Created event (see the EventBridge pattern above)');
    const key = decodeURIComponent(detail.object.key.replace(/\+/g, ' '));
    if (!key.endsWith(`/${MANIFEST_NAME}`)) return { key, ok: true, problems: ['not a manifest: ignored'] };
    const check = await verifyManifest(await s3(), detail.bucket.name, key);
    log(JSON.stringify({ level: check.ok ? 'INFO' : 'ERROR', message: check.ok ? 'manifest verified' : 'manifest does not match its objects', key, problems: check.problems }));
    if (!check.ok) throw new Error(`Manifest ${key} does not match its objects: ${check.problems.join('; ')}`);
    return { key, ...check };
  };
}

export const handler = createVerifyManifestHandler(lazy(async () => createS3Client()));
