import { Duration, RemovalPolicy, Stack, type CfnElement } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { AuditExportConfig } from '../config.js';

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
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      // On unless the configuration asks for a stack that deletes its data (bucket.removalPolicy = destroy).
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    });
  }

  /**
   * What a function that writes one source's exports needs: put (and abort multipart uploads of) objects under
   * `<exportPrefix>source=<source>/`, optionally delete them there, and the bucket key only through S3 for this
   * bucket. Returns the statements and the cdk-nag acknowledgement for the prefix wildcard.
   */
  exportWriter(source: string, exportPrefix: string, options: { delete?: boolean } = {}) {
    const name = `${source[0]!.toUpperCase()}${source.slice(1)}`;
    const pattern = `${exportPrefix}source=${source}/*`;
    const statements = [
      new iam.PolicyStatement({
        sid: `Write${name}Exports`,
        // PutObject covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload; DeleteObject on a
        // versioned bucket only adds a delete marker (no s3:DeleteObjectVersion is granted).
        actions: ['s3:PutObject', 's3:AbortMultipartUpload', ...(options.delete ? ['s3:DeleteObject'] : [])],
        resources: [this.bucket.arnForObjects(pattern)],
      }),
      new iam.PolicyStatement({
        sid: `Encrypt${name}Exports`,
        // Multipart uploads under SSE-KMS need Decrypt as well as GenerateDataKey.
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [this.bucketKey.keyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com`,
            'kms:EncryptionContext:aws:s3:arn': this.bucket.bucketArn,
          },
        },
      }),
    ];
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnElement);
    const acknowledge = {
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${pattern}]`,
      reason:
        `Object keys are chosen per window at run time; the function may write${options.delete ? ' and delete' : ''} ` +
        `objects only under ${pattern}, never read or list them, nor touch other sources.`,
    };
    return { statements, acknowledge };
  }
}
