import { Duration, RemovalPolicy, Stack, type CfnElement } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CHECKPOINT_TABLE_KEYS } from '../../functions/common/checkpoints.js';
import { safeSegment } from '../../functions/common/s3-layout.js';
import type { AuditExportConfig } from '../config.js';

/**
 * What each step does with the checkpoint ledger (functions/common/checkpoints.ts):
 * - `lease` (PlanExport): acquireLease = conditional UpdateItem, and GetItem when another execution holds it;
 * - `commit` (CommitRun): read (GetItem), advance/release (conditional UpdateItem), recordRun (PutItem), and
 *   Query over the stream's run records.
 * Nobody gets Scan: only the operator's `status` CLI lists every stream.
 */
export const CHECKPOINT_ACTIONS = {
  lease: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
  commit: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:Query'],
} as const;

export interface ExportStorageProps {
  readonly bucket: AuditExportConfig['bucket'];
}

/**
 * Where exports land and where progress is kept: the export bucket (SSE-KMS under its own customer-managed key,
 * versioned, TLS only, never public, with lifecycle rules and EventBridge notifications), its server access log
 * bucket, and the checkpoint table.
 */
export class ExportStorage extends Construct {
  readonly bucket: s3.Bucket;
  readonly bucketKey: kms.Key;
  readonly accessLogsBucket: s3.Bucket;
  readonly checkpointTable: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: ExportStorageProps) {
    super(scope, id);
    const config = props.bucket;
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    // Audit logs are sensitive: a customer-managed key means reading an export needs kms:Decrypt on this key
    // as well as s3:GetObject, every use is in CloudTrail, and the key can be disabled on its own. Bucket keys
    // keep the KMS request cost per object, not per part.
    this.bucketKey = new kms.Key(this, 'ExportBucketKey', {
      description: 'audit-export: encrypts the exported audit logs (S3 SSE-KMS)',
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: Duration.days(30),
    });

    // S3 server access logs cannot be delivered to an SSE-KMS bucket: SSE-S3 here.
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: Duration.days(config.accessLogsExpireAfterDays), noncurrentVersionExpiration: Duration.days(1) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
    });

    const transitions: s3.Transition[] = [
      { storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(config.transitionToInfrequentAccessAfterDays) },
    ];
    if (config.transitionToGlacierAfterDays !== undefined) {
      transitions.push({ storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(config.transitionToGlacierAfterDays) });
    }
    this.bucket = new s3.Bucket(this, 'ExportBucket', {
      ...(config.name ? { bucketName: config.name } : {}),
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.bucketKey,
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'export-bucket/',
      lifecycleRules: [
        {
          id: 'exports',
          transitions,
          ...(config.expireAfterDays !== undefined ? { expiration: Duration.days(config.expireAfterDays) } : {}),
          noncurrentVersionExpiration: Duration.days(config.noncurrentVersionExpirationDays),
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
    });
    // EventBridge notifications set on the bucket resource itself (`eventBridgeEnabled: true` would add a
    // custom-resource Lambda to do the same thing): consumers react to "Object Created" under source=.../
    (this.bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };

    this.checkpointTable = new dynamodb.TableV2(this, 'CheckpointTable', {
      partitionKey: { name: CHECKPOINT_TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: CHECKPOINT_TABLE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      // Run records (`run#…`) carry an epoch-seconds expiry; checkpoint items have none and stay.
      timeToLiveAttribute: CHECKPOINT_TABLE_KEYS.timeToLive,
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      // On unless the configuration asks for a stack that deletes its data (bucket.removalPolicy = destroy).
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    });
  }

  /**
   * What a function that writes one source's window folders needs (MFT CopyReport, Xray ExportPages), all under
   * `<exportPrefix>source=<source>/` only:
   * - put objects (PutObject covers Create/UploadPart/CompleteMultipartUpload) and abort multipart uploads;
   * - get the window's previous manifest and delete the objects it listed that the new one does not
   *   (DeleteObjects is authorized as s3:DeleteObject per key; on a versioned bucket that adds a delete marker,
   *   no s3:DeleteObjectVersion is granted);
   * - ListBucket restricted by `s3:prefix` to the same prefix: Xray lists its stream's folder to learn which
   *   windows already have a manifest; and without any ListBucket, S3 answers a GetObject of a manifest that
   *   does not exist yet (every first MFT export of a window) with 403 AccessDenied instead of 404 NoSuchKey,
   *   and writeManifest would fail. S3 evaluates that check with the object key as `s3:prefix`;
   * - the bucket key, only through S3 for this bucket.
   * Returns the statements and the cdk-nag acknowledgement for the prefix wildcard.
   */
  exportWriter(source: string, exportPrefix: string, tenant?: string) {
    const name = `${source[0]!.toUpperCase()}${source.slice(1)}`;
    // An instance of several (its tenant known at synth) writes only its own tenant's folder.
    const pattern = `${exportPrefix}source=${source}/${tenant === undefined ? '' : `tenant=${safeSegment(tenant)}/`}*`;
    const statements = [
      new iam.PolicyStatement({
        sid: `Store${name}Exports`,
        actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject', 's3:DeleteObject'],
        resources: [this.bucket.arnForObjects(pattern)],
      }),
      new iam.PolicyStatement({
        sid: `Find${name}Exports`,
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [pattern] } },
      }),
      this.bucketKeyViaS3(`Encrypt${name}Exports`, ['kms:GenerateDataKey', 'kms:Decrypt']),
    ];
    return {
      statements,
      acknowledge: {
        id: this.objectsFinding(pattern),
        reason:
          `Object keys are chosen per window at run time; the function may put, read and delete objects only under ` +
          `${pattern} (its own window folders and manifests), never another source's.`,
      },
    };
  }

  /**
   * Listing a source's window folders, nothing read: PlanExport learns which windows older than the source's
   * retention hold a manifest (functions/common/manifest.ts, manifestWindows), to report the others lost.
   */
  windowLister(source: string, exportPrefix: string, tenant?: string): iam.PolicyStatement {
    const name = `${source[0]!.toUpperCase()}${source.slice(1)}`;
    return new iam.PolicyStatement({
      sid: `List${name}Windows`,
      actions: ['s3:ListBucket'],
      resources: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${exportPrefix}source=${source}/${tenant === undefined ? '' : `tenant=${safeSegment(tenant)}/`}*`] } },
    });
  }

  /**
   * Read-only access for a consumer of the exports: get and list objects under `<exportPrefix>source=`, and
   * kms:Decrypt of the bucket key only through S3 for this bucket.
   */
  exportReader(exportPrefix: string) {
    const pattern = `${exportPrefix}source=*`;
    const statements = [
      new iam.PolicyStatement({
        sid: 'ReadExports',
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(pattern)],
      }),
      new iam.PolicyStatement({
        sid: 'ListExports',
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [pattern] } },
      }),
      this.bucketKeyViaS3('DecryptExports', ['kms:Decrypt']),
    ];
    return {
      statements,
      acknowledge: {
        id: this.objectsFinding(pattern),
        reason: `A consumer reads the objects a manifest lists, whatever their keys; read-only, and only under ${pattern}.`,
      },
    };
  }

  /**
   * The checkpoint ledger, for one source's streams only: `dynamodb:LeadingKeys` (the partition key, a stream key
   * `<source>|<tenant>|<filtersId>|<format>`) must match `<source>|*` for every item the request touches.
   */
  checkpointAccess(source: string, use: keyof typeof CHECKPOINT_ACTIONS, tenant?: string): iam.PolicyStatement {
    const name = `${source[0]!.toUpperCase()}${source.slice(1)}`;
    return new iam.PolicyStatement({
      sid: use === 'lease' ? `Lease${name}Checkpoints` : `Commit${name}Checkpoints`,
      actions: [...CHECKPOINT_ACTIONS[use]],
      resources: [this.checkpointTable.tableArn],
      // An instance of several: only its own tenant's streams.
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${source}|${tenant === undefined ? '' : `${tenant}|`}*`] } },
    });
  }

  private bucketKeyViaS3(sid: string, actions: string[]): iam.PolicyStatement {
    return new iam.PolicyStatement({
      sid,
      // Multipart uploads under SSE-KMS need Decrypt as well as GenerateDataKey; reads need Decrypt.
      actions,
      resources: [this.bucketKey.keyArn],
      conditions: {
        StringEquals: {
          'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com`,
          'kms:EncryptionContext:aws:s3:arn': this.bucket.bucketArn,
        },
      },
    });
  }

  private objectsFinding(pattern: string): string {
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnElement);
    return `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${pattern}]`;
  }
}
