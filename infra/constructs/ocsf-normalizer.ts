import { ArnFormat, Duration, Stack, Token, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct, type IConstruct } from 'constructs';
import { MANIFEST_NAME } from '../../functions/common/manifest.js';
import type { ParquetLayout } from '../../functions/ocsf/parquet.js';
import { OCSF_SOURCES } from '../../functions/ocsf/sources.js';
import type { AuditExportConfig } from '../config.js';
import { createAuditFunction } from './audit-function.js';
import { functionErrorsAlarm } from './manifest-consumer.js';
import type { ExportStorage } from './export-storage.js';

export const NORMALIZE_OCSF_ENTRY = 'functions/ocsf/handler.ts';

export interface OcsfNormalizerProps {
  readonly config: AuditExportConfig;
  readonly storage: ExportStorage;
  readonly projectRoot: string;
  readonly alarmTopic: sns.ITopic;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

type SourceName = 'mft' | 'xray';

/**
 * The OCSF normalizer (functions/ocsf/handler.ts): the EventBridge "Object Created" event of every window's manifest
 * invokes it, and it writes the window's OCSF 1.1 Parquet file.
 *
 * - `target: bucket`: under `<exportPrefix><ocsf.prefix>ext/<source name>/` in the export bucket, with a Glue table per
 *   source whose partitions (region, accountId, eventDay) are projected, so Athena queries it without a crawler.
 * - `target: security-lake`: one Security Lake custom source per source (its OCSF class, a Glue crawler role, this
 *   account as the provider with the configured external id), registered by a custom resource calling
 *   CreateCustomLogSource (CloudFormation has no resource type for it); the function writes where the source's
 *   ProviderDetails.Location says, as its ProviderDetails.RoleArn.
 *
 * The function may read the exports (GetObject/ListBucket under `<exportPrefix>source=`, the bucket key via S3), and
 * write only its own folder (bucket target) or assume only the custom sources' provider roles (Security Lake).
 */
export class OcsfNormalizer extends Construct {
  readonly function: NodejsFunction;
  readonly rule: events.Rule;
  readonly errorsAlarm: cloudwatch.Alarm;
  readonly tables: Partial<Record<SourceName, glue.CfnTable>> = {};
  readonly customSources: Partial<Record<SourceName, cr.AwsCustomResource>> = {};
  readonly crawlerRole?: iam.Role;

  constructor(scope: Construct, id: string, props: OcsfNormalizerProps) {
    super(scope, id);
    const { config, storage } = props;
    const stack = Stack.of(this);
    const ocsf = config.ocsf;
    const sources = (['mft', 'xray'] as const).filter((source) => config.sources[source].length > 0);
    const reader = storage.exportReader(config.bucket.exportPrefix);
    const statements: iam.PolicyStatement[] = [...reader.statements];
    const acknowledge: { id: string; reason: string }[] = [reader.acknowledge];
    const environment: Record<string, string> = {
      EXPORT_BUCKET: storage.bucket.bucketName,
      OCSF_TARGET: ocsf.target,
      OCSF_ACCOUNT_ID: stack.account,
      OCSF_REGION: stack.region,
      OCSF_MFT_SOURCE_NAME: ocsf.sourceNames.mft,
      OCSF_XRAY_SOURCE_NAME: ocsf.sourceNames.xray,
    };

    if (ocsf.target === 'bucket') {
      const prefix = `${config.bucket.exportPrefix}${ocsf.prefix}`;
      environment.OCSF_PREFIX = prefix;
      const pattern = `${prefix}*`;
      statements.push(
        new iam.PolicyStatement({
          sid: 'WriteOcsfFiles',
          // GetObject serves the HEAD before an empty window's file is removed; DeleteObject removes it.
          actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject', 's3:DeleteObject'],
          resources: [storage.bucket.arnForObjects(pattern)],
        }),
        new iam.PolicyStatement({
          sid: 'FindOcsfFiles',
          actions: ['s3:ListBucket'],
          resources: [storage.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [pattern] } },
        }),
        new iam.PolicyStatement({
          sid: 'EncryptOcsfFiles',
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [storage.bucketKey.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com`, 'kms:EncryptionContext:aws:s3:arn': storage.bucket.bucketArn },
          },
        }),
      );
      acknowledge.push({
        id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(storage.bucket.node.defaultChild as never)}.Arn>/${pattern}]`,
        reason: `One Parquet file per window, named at run time; the function writes only under ${pattern}.`,
      });
      const database = new glue.CfnDatabase(this, 'Database', {
        catalogId: stack.account,
        databaseInput: { name: ocsf.glueDatabase, description: 'audit-export: OCSF 1.1 tables over the normalized exports' },
      });
      for (const source of sources) {
        const location = `s3://${storage.bucket.bucketName}/${prefix}ext/${ocsf.sourceNames[source]}/`;
        const table = new glue.CfnTable(this, `${capitalize(source)}Table`, {
          catalogId: stack.account,
          databaseName: ocsf.glueDatabase,
          tableInput: glueTableInput(`${ocsf.sourceNames[source].replaceAll('-', '_')}`, OCSF_SOURCES[source]!.layout, location, stack.region, stack.account),
        });
        table.addDependency(database);
        this.tables[source] = table;
      }
    } else {
      const lake = ocsf.securityLake!;
      environment.OCSF_EXTERNAL_ID = lake.externalId;
    }
    if (ocsf.target === 'security-lake' && ocsf.securityLake!.providers) {
      // Registered elsewhere (the Security Lake administrator account): only the provider roles are assumed.
      const providers = ocsf.securityLake!.providers;
      const assumable: string[] = [];
      for (const source of sources) {
        const provider = providers[source];
        if (!provider) throw new Error(`ocsf.securityLake.providers.${source} is missing: give the ${source} custom source's ProviderDetails (location, roleArn), or leave providers out to register the sources here`);
        environment[`OCSF_${source.toUpperCase()}_LOCATION`] = provider.location;
        environment[`OCSF_${source.toUpperCase()}_ROLE_ARN`] = provider.roleArn;
        assumable.push(provider.roleArn);
      }
      statements.push(new iam.PolicyStatement({ sid: 'WriteAsCustomSourceProvider', actions: ['sts:AssumeRole'], resources: assumable }));
    } else if (ocsf.target === 'security-lake') {
      const lake = ocsf.securityLake!;
      if (Token.isUnresolved(stack.region)) {
        throw new Error('ocsf.target security-lake needs the region at synth time (Security Lake names its bucket and Glue database by region): set env.region or AWS_REGION');
      }
      // How cdk-nag names these ARNs in its findings (a deploy-time account is a token).
      const nagAccount = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
      const nagPartition = Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition;
      this.crawlerRole = new iam.Role(this, 'CrawlerRole', {
        assumedBy: new iam.ServicePrincipal('glue.amazonaws.com'),
        description: 'The Glue crawler role of the audit-export Security Lake custom sources',
      });
      const lakeDatabase = `amazon_security_lake_glue_db_${stack.region.replaceAll('-', '_')}`;
      this.crawlerRole.addToPolicy(
        new iam.PolicyStatement({
          sid: 'CrawlCustomSources',
          actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:UpdateTable', 'glue:CreateTable', 'glue:GetPartition', 'glue:GetPartitions', 'glue:BatchGetPartition', 'glue:CreatePartition', 'glue:BatchCreatePartition', 'glue:UpdatePartition'],
          resources: [
            stack.formatArn({ service: 'glue', resource: 'catalog' }),
            stack.formatArn({ service: 'glue', resource: 'database', resourceName: lakeDatabase }),
            stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${lakeDatabase}/*` }),
          ],
        }),
      );
      this.crawlerRole.addToPolicy(
        new iam.PolicyStatement({
          sid: 'ReadCustomSourceFiles',
          actions: ['s3:GetObject', 's3:ListBucket'],
          resources: sources.flatMap((source) => [
            `arn:${stack.partition}:s3:::aws-security-data-lake-${stack.region}-*`,
            `arn:${stack.partition}:s3:::aws-security-data-lake-${stack.region}-*/ext/${ocsf.sourceNames[source]}/*`,
          ]),
        }),
      );
      this.crawlerRole.addToPolicy(
        new iam.PolicyStatement({
          sid: 'CrawlerLogs',
          actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '/aws-glue/crawlers*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
        }),
      );
      const lakeObjects = [`arn:${nagPartition}:s3:::aws-security-data-lake-${stack.region}-*`, ...sources.map((source) => `arn:${nagPartition}:s3:::aws-security-data-lake-${stack.region}-*/ext/${ocsf.sourceNames[source]}/*`)];
      const lakeTables = `arn:${nagPartition}:glue:${stack.region}:${nagAccount}:table/${lakeDatabase}/*`;
      acknowledgeWildcards(
        this.crawlerRole,
        'The crawler reads the Security Lake bucket (named by Security Lake: aws-security-data-lake-<region>-<id>) under each custom source\'s ext/<name>/ folder only, ' +
          'keeps the tables of the Security Lake Glue database, and logs to /aws-glue/crawlers: resources named by Security Lake and Glue at run time.',
        [lakeTables, `arn:${nagPartition}:logs:${stack.region}:${nagAccount}:log-group:/aws-glue/crawlers*`, ...lakeObjects],
      );

      const registration = this.registrationPolicy(sources.map((source) => ocsf.sourceNames[source]), lakeDatabase);
      const assumable: string[] = [];
      for (const source of sources) {
        const name = ocsf.sourceNames[source];
        const custom = new cr.AwsCustomResource(this, `${capitalize(source)}CustomSource`, {
          resourceType: 'Custom::SecurityLakeCustomLogSource',
          installLatestAwsSdk: false,
          onCreate: {
            service: 'SecurityLake',
            action: 'createCustomLogSource',
            parameters: {
              sourceName: name,
              sourceVersion: lake.sourceVersion,
              eventClasses: [OCSF_SOURCES[source]!.securityLakeEventClass],
              configuration: {
                crawlerConfiguration: { roleArn: this.crawlerRole.roleArn },
                providerIdentity: { externalId: lake.externalId, principal: stack.account },
              },
            },
            physicalResourceId: cr.PhysicalResourceId.of(`${name}/${lake.sourceVersion}`),
            outputPaths: ['source.provider.location', 'source.provider.roleArn'],
          },
          onDelete: { service: 'SecurityLake', action: 'deleteCustomLogSource', parameters: { sourceName: name, sourceVersion: lake.sourceVersion } },
          policy: registration,
        });
        custom.node.addDependency(this.crawlerRole);
        acknowledgeWildcards(
          custom.node.findChild('CustomResourcePolicy'),
          'CreateCustomLogSource/DeleteCustomLogSource and Lake Formation registration have no resource-level permissions; Security Lake names the ' +
            'crawlers (<source name>…), the lake bucket and the tables of its Glue database; each statement is limited to this stack\'s custom sources.',
          ['*', ...sources.map((other) => `arn:${nagPartition}:glue:${stack.region}:${nagAccount}:crawler/${ocsf.sourceNames[other]}*`), lakeTables, ...lakeObjects],
        );
        this.customSources[source] = custom;
        environment[`OCSF_${source.toUpperCase()}_LOCATION`] = custom.getResponseField('source.provider.location');
        const roleArn = custom.getResponseField('source.provider.roleArn');
        environment[`OCSF_${source.toUpperCase()}_ROLE_ARN`] = roleArn;
        assumable.push(roleArn);
      }
      statements.push(new iam.PolicyStatement({ sid: 'WriteAsCustomSourceProvider', actions: ['sts:AssumeRole'], resources: assumable }));
      // The function that runs AwsCustomResource calls (one per stack, created by CDK).
      const provider = stack.node.tryFindChild('AWS679f53fac002430cb0da5b7982bd2287');
      if (provider) {
        Validations.of(provider).acknowledge({
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason: 'The CDK-provided function behind the custom-source registration writes its own logs with the managed basic execution policy; it runs only at deploy time.',
        });
      }
    }

    this.function = createAuditFunction(this, {
      id: 'NormalizeOcsf',
      entry: NORMALIZE_OCSF_ENTRY,
      description: `audit-export OCSF normalizer: ${NORMALIZE_OCSF_ENTRY}`,
      projectRoot: props.projectRoot,
      // A row group of events (20,000) in memory while it is encoded; 1 GB also buys CPU (0.58 vCPU).
      memorySize: 1024,
      timeout: Duration.minutes(15),
      environment,
      statements,
      acknowledge,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    // A window out of time order is sorted through gzip spill files in /tmp.
    (this.function.node.defaultChild as lambda.CfnFunction).ephemeralStorage = { size: 4096 };

    this.rule = new events.Rule(this, 'ManifestCreated', {
      description: `audit-export: a window's ${MANIFEST_NAME} was written; normalize the window to OCSF`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: { bucket: { name: [storage.bucket.bucketName] }, object: { key: events.Match.suffix(`/${MANIFEST_NAME}`) } },
      },
    });
    this.rule.addTarget(new targets.LambdaFunction(this.function, { retryAttempts: 8, maxEventAge: Duration.hours(12) }));

    this.errorsAlarm = functionErrorsAlarm(
      this,
      this.function,
      `The audit-export OCSF normalizer failed on a window (it is retried; see the log group of ${this.function.node.path}).`,
      props.alarmTopic,
    );
  }

  /**
   * What CreateCustomLogSource needs of its caller (Security Lake creates the source's Glue crawler and table, its
   * Lake Formation registration and the provider role AmazonSecurityLake-Provider-<name>-<region>) and what
   * DeleteCustomLogSource needs to undo it.
   */
  private registrationPolicy(names: string[], lakeDatabase: string): cr.AwsCustomResourcePolicy {
    const stack = Stack.of(this);
    const statements = [
      new iam.PolicyStatement({
        sid: 'RegisterCustomSources',
        actions: ['securitylake:CreateCustomLogSource', 'securitylake:DeleteCustomLogSource'],
        resources: ['*'],
      }),
      new iam.PolicyStatement({ sid: 'PassCrawlerRole', actions: ['iam:PassRole'], resources: [this.crawlerRole!.roleArn] }),
      new iam.PolicyStatement({
        sid: 'ProviderRoles',
        actions: ['iam:GetRole', 'iam:CreateRole', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:DeleteRole', 'iam:PassRole'],
        resources: names.map((name) => stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: `AmazonSecurityLake-Provider-${name}-${stack.region}` })),
      }),
      new iam.PolicyStatement({
        sid: 'CustomSourceCatalog',
        actions: ['glue:CreateCrawler', 'glue:DeleteCrawler', 'glue:StartCrawlerSchedule', 'glue:StopCrawlerSchedule', 'glue:CreateDatabase', 'glue:CreateTable', 'glue:DeleteTable', 'glue:GetDatabase', 'glue:GetTable'],
        resources: [
          stack.formatArn({ service: 'glue', resource: 'catalog' }),
          stack.formatArn({ service: 'glue', resource: 'database', resourceName: lakeDatabase }),
          stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${lakeDatabase}/*` }),
          ...names.map((name) => stack.formatArn({ service: 'glue', resource: 'crawler', resourceName: `${name}*` })),
        ],
      }),
      new iam.PolicyStatement({ sid: 'CustomSourceLakeFormation', actions: ['lakeformation:RegisterResource', 'lakeformation:GrantPermissions'], resources: ['*'] }),
      new iam.PolicyStatement({
        sid: 'CustomSourceFolder',
        actions: ['s3:ListBucket', 's3:PutObject'],
        resources: [`arn:${stack.partition}:s3:::aws-security-data-lake-${stack.region}-*`, ...names.map((name) => `arn:${stack.partition}:s3:::aws-security-data-lake-${stack.region}-*/ext/${name}/*`)],
      }),
    ];
    return cr.AwsCustomResourcePolicy.fromStatements(statements);
  }
}

function acknowledgeWildcards(scope: IConstruct, reason: string, resources: string[]): void {
  Validations.of(scope).acknowledge(...[...new Set(resources)].map((resource) => ({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason })));
}

function capitalize(value: string): string {
  return `${value[0]!.toUpperCase()}${value.slice(1)}`;
}

/** The Glue (Hive) types of a Parquet layout's columns: the same projection the normalizer writes. */
export function glueColumns(layout: ParquetLayout): glue.CfnTable.ColumnProperty[] {
  const elements = layout.schema;
  let at = 1;
  const typeOf = (): { name: string; type: string } => {
    const element = elements[at++]!;
    if (element.converted_type === 'LIST') {
      at++; // the repeated "list" group
      return { name: element.name, type: `array<${typeOf().type}>` };
    }
    if (element.converted_type === 'MAP') {
      at++; // key_value
      const key = typeOf();
      const value = typeOf();
      return { name: element.name, type: `map<${key.type},${value.type}>` };
    }
    if (element.num_children) {
      const fields: string[] = [];
      for (let child = 0; child < element.num_children; child++) {
        const field = typeOf();
        fields.push(`${field.name}:${field.type}`);
      }
      return { name: element.name, type: `struct<${fields.join(',')}>` };
    }
    const primitive = { INT32: 'int', INT64: 'bigint', DOUBLE: 'double', BOOLEAN: 'boolean', BYTE_ARRAY: 'string' }[element.type!];
    return { name: element.name, type: primitive! };
  };
  const columns: glue.CfnTable.ColumnProperty[] = [];
  while (at < elements.length) columns.push(typeOf());
  return columns;
}

function glueTableInput(name: string, layout: ParquetLayout, location: string, region: string, account: string): glue.CfnTable.TableInputProperty {
  return {
    name,
    description: `audit-export: OCSF 1.1 ${layout.eventClass.caption} (${layout.eventClass.uid}) events, one Parquet file per exported window`,
    tableType: 'EXTERNAL_TABLE',
    partitionKeys: [
      { name: 'region', type: 'string' },
      { name: 'accountid', type: 'string' },
      { name: 'eventday', type: 'string' },
    ],
    parameters: {
      classification: 'parquet',
      'parquet.compression': 'ZSTD',
      'projection.enabled': 'true',
      'projection.region.type': 'enum',
      'projection.region.values': region,
      'projection.accountid.type': 'enum',
      'projection.accountid.values': account,
      'projection.eventday.type': 'date',
      'projection.eventday.format': 'yyyyMMdd',
      'projection.eventday.range': '20200101,NOW',
      'projection.eventday.interval': '1',
      'projection.eventday.interval.unit': 'DAYS',
      'storage.location.template': `${location}region=\${region}/accountId=\${accountid}/eventDay=\${eventday}/`,
    },
    storageDescriptor: {
      location,
      columns: glueColumns(layout),
      inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
      outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
      serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
    },
  };
}
