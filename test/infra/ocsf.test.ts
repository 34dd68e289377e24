import { describe, expect, it } from 'vitest';
import { OCSF_SOURCES } from '../../functions/ocsf/sources.js';
import { glueColumns } from '../../infra/constructs/ocsf-normalizer.js';
import { DeployedStack } from '../../local/deployed-stack.js';
import { functionRoleId, getAtt, logicalId, ref, roleStatements } from './iam.js';
import { defaultConfig, synthesize, TEST_ENV } from './synth.js';

/** The OCSF normalizer (ocsf.enabled): its function, trigger, permissions, and the table or custom sources it brings. */

const withOcsf = (ocsf: Record<string, unknown>) => {
  const config = defaultConfig() as Record<string, any>;
  return { ...config, ocsf: { enabled: true, ...ocsf }, sources: { ...config.sources, xray: { enabled: true, baseUrl: 'https://acme.jfrog.io' } } };
};

describe('OCSF normalizer, off by default', () => {
  it('deploys nothing of it unless ocsf.enabled', () => {
    const s = synthesize(defaultConfig());
    expect(s.stack.ocsf).toBeUndefined();
    expect(s.template.findResources('AWS::Glue::Table')).toEqual({});
  });
});

describe('OCSF normalizer into the export bucket (target bucket)', () => {
  const s = synthesize({ ...withOcsf({}), bucket: { ...(defaultConfig() as any).bucket, exportPrefix: 'audit/' } });
  const ocsf = s.stack.ocsf!;
  const fn = logicalId(ocsf.function);
  const bucket = logicalId(s.stack.storage.bucket);
  const key = logicalId(s.stack.storage.bucketKey);

  it('runs functions/ocsf/handler.ts on every manifest, with retries and an alarm', () => {
    const props = s.template.toJSON().Resources[fn].Properties;
    expect(props).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], MemorySize: 1024, Timeout: 900, EphemeralStorage: { Size: 4096 } });
    expect(props.Environment.Variables).toEqual({
      EXPORT_BUCKET: ref(bucket), OCSF_TARGET: 'bucket', OCSF_PREFIX: 'audit/ocsf/', OCSF_ACCOUNT_ID: TEST_ENV.account, OCSF_REGION: TEST_ENV.region,
      OCSF_MFT_SOURCE_NAME: 'progress-mft', OCSF_XRAY_SOURCE_NAME: 'jfrog-xray-curation',
    });
    const rule = s.template.toJSON().Resources[logicalId(ocsf.rule)].Properties;
    expect(rule.EventPattern).toEqual({ source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { bucket: { name: [ref(bucket)] }, object: { key: [{ suffix: '/_manifest.json' }] } } });
    expect(rule.Targets).toEqual([expect.objectContaining({ Arn: getAtt(fn), RetryPolicy: expect.objectContaining({ MaximumRetryAttempts: 8 }) })]);
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: ref(fn) }] });
  });

  it('may read the exports and write only its own folder: least privilege, exactly', () => {
    const statements = roleStatements(s.template, functionRoleId(s.template, fn)).filter((statement) => !['WriteOwnLogs'].includes(String(statement.Sid)) && !String(JSON.stringify(statement.Action)).includes('xray:'));
    const objects = (pattern: string) => ({ 'Fn::Join': ['', [getAtt(bucket), `/${pattern}`]] });
    const viaS3 = { StringEquals: { 'kms:ViaService': `s3.${TEST_ENV.region}.amazonaws.com`, 'kms:EncryptionContext:aws:s3:arn': getAtt(bucket) } };
    expect(statements).toEqual([
      { Sid: 'ReadExports', Effect: 'Allow', Action: 's3:GetObject', Resource: objects('audit/source=*') },
      { Sid: 'ListExports', Effect: 'Allow', Action: 's3:ListBucket', Resource: getAtt(bucket), Condition: { StringLike: { 's3:prefix': ['audit/source=*'] } } },
      { Sid: 'DecryptExports', Effect: 'Allow', Action: 'kms:Decrypt', Resource: getAtt(key), Condition: viaS3 },
      { Sid: 'WriteOcsfFiles', Effect: 'Allow', Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'], Resource: objects('audit/ocsf/*') },
      { Sid: 'FindOcsfFiles', Effect: 'Allow', Action: 's3:ListBucket', Resource: getAtt(bucket), Condition: { StringLike: { 's3:prefix': ['audit/ocsf/*'] } } },
      { Sid: 'EncryptOcsfFiles', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: getAtt(key), Condition: viaS3 },
    ]);
    expect(JSON.stringify(statements)).not.toContain('sts:');
  });

  it('brings a Glue table per source over the OCSF folder, partitions projected (no crawler), columns as the files have them', () => {
    const tables = Object.values(s.template.findResources('AWS::Glue::Table')).map((table) => table.Properties.TableInput);
    expect(tables.map((table) => table.Name).sort()).toEqual(['jfrog_xray_curation', 'progress_mft']);
    const mft = tables.find((table) => table.Name === 'progress_mft')!;
    const location = { 'Fn::Join': ['', ['s3://', ref(bucket), '/audit/ocsf/ext/progress-mft/']] };
    expect(mft.StorageDescriptor).toMatchObject({ Location: location, SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' } });
    expect(mft.StorageDescriptor.Columns).toEqual(glueColumns(OCSF_SOURCES.mft!.layout).map((column) => ({ Name: column.name, Type: column.type })));
    expect(mft.StorageDescriptor.Columns).toEqual(expect.arrayContaining([
      { Name: 'time', Type: 'bigint' },
      { Name: 'actor', Type: 'struct<user:struct<name:string,email_addr:string,type_id:int,type:string>>' },
      { Name: 'resources', Type: 'array<struct<type:string,name:string>>' },
      { Name: 'unmapped', Type: 'map<string,string>' },
    ]));
    expect(mft.PartitionKeys).toEqual([{ Name: 'region', Type: 'string' }, { Name: 'accountid', Type: 'string' }, { Name: 'eventday', Type: 'string' }]);
    expect(mft.Parameters).toMatchObject({
      'projection.enabled': 'true', 'projection.eventday.type': 'date', 'projection.eventday.format': 'yyyyMMdd', 'projection.region.values': TEST_ENV.region,
      'projection.accountid.values': TEST_ENV.account,
      'storage.location.template': { 'Fn::Join': ['', ['s3://', ref(bucket), '/audit/ocsf/ext/progress-mft/region=${region}/accountId=${accountid}/eventDay=${eventday}/']] },
    });
    expect(s.template.findResources('AWS::Glue::Crawler')).toEqual({});
  });
});

describe('OCSF normalizer into Security Lake (target security-lake)', () => {
  const s = synthesize(withOcsf({ target: 'security-lake', securityLake: { externalId: 'audit-export-ocsf' } }));
  const ocsf = s.stack.ocsf!;
  const fn = logicalId(ocsf.function);

  it('registers one custom source per source with its OCSF event class, the crawler role and this account as provider', () => {
    const customs = Object.values(s.template.findResources('Custom::SecurityLakeCustomLogSource'));
    expect(customs).toHaveLength(2);
    const creates = customs.map((custom) => JSON.parse(JSON.stringify(custom.Properties.Create)) as unknown);
    const text = JSON.stringify(creates);
    for (const [name, eventClass] of [['progress-mft', 'API_ACTIVITY'], ['jfrog-xray-curation', 'WEB_RESOURCES_ACTIVITY']]) {
      expect(text).toContain(`\\"sourceName\\":\\"${name}\\"`);
      expect(text).toContain(`\\"eventClasses\\":[\\"${eventClass}\\"]`);
    }
    expect(text).toContain('\\"providerIdentity\\":{\\"externalId\\":\\"audit-export-ocsf\\",\\"principal\\":\\"123456789012\\"}');
    expect(text).toContain('createCustomLogSource');
    expect(s.template.findResources('AWS::Glue::Table')).toEqual({});
  });

  it('writes where the custom source\'s ProviderDetails say, and may only assume those provider roles', () => {
    const variables = s.template.toJSON().Resources[fn].Properties.Environment.Variables;
    expect(variables).toMatchObject({ OCSF_TARGET: 'security-lake', OCSF_EXTERNAL_ID: 'audit-export-ocsf' });
    expect(variables.OCSF_MFT_LOCATION).toEqual({ 'Fn::GetAtt': [logicalId(ocsf.customSources.mft!), 'source.provider.location'] });
    expect(variables.OCSF_XRAY_ROLE_ARN).toEqual({ 'Fn::GetAtt': [logicalId(ocsf.customSources.xray!), 'source.provider.roleArn'] });
    const statements = roleStatements(s.template, functionRoleId(s.template, fn));
    const assume = statements.filter((statement) => JSON.stringify(statement.Action).includes('sts:'));
    expect(assume).toEqual([{
      Sid: 'WriteAsCustomSourceProvider', Effect: 'Allow', Action: 'sts:AssumeRole',
      Resource: [{ 'Fn::GetAtt': [logicalId(ocsf.customSources.mft!), 'source.provider.roleArn'] }, { 'Fn::GetAtt': [logicalId(ocsf.customSources.xray!), 'source.provider.roleArn'] }],
    }]);
    expect(JSON.stringify(statements)).not.toContain('s3:PutObject');
    expect(JSON.stringify(statements)).not.toContain('s3:DeleteObject');
  });

  it('gives the crawler role only Glue on the Security Lake database, reads of the sources\' folders, and its logs', () => {
    const statements = roleStatements(s.template, logicalId(ocsf.crawlerRole!));
    expect(statements.map((statement) => statement.Sid)).toEqual(['CrawlCustomSources', 'ReadCustomSourceFiles', 'CrawlerLogs']);
    const role = s.template.toJSON().Resources[logicalId(ocsf.crawlerRole!)].Properties;
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'glue.amazonaws.com' } }]);
    expect(JSON.stringify(statements[1])).toContain('/ext/progress-mft/*');
    expect(JSON.stringify(statements)).not.toContain('"s3:PutObject"');
  });

  it('with custom sources registered in the administrator account, registers nothing and assumes only their roles', () => {
    const providers = {
      mft: { location: 's3://aws-security-data-lake-eu-west-1-abc123/ext/progress-mft/1.0/', roleArn: 'arn:aws:iam::210987654321:role/AmazonSecurityLake-Provider-progress-mft-eu-west-1' },
      xray: { location: 's3://aws-security-data-lake-eu-west-1-abc123/ext/jfrog-xray-curation/1.0/', roleArn: 'arn:aws:iam::210987654321:role/AmazonSecurityLake-Provider-jfrog-xray-curation-eu-west-1' },
    };
    const cross = synthesize(withOcsf({ target: 'security-lake', securityLake: { externalId: 'audit-export-ocsf', providers } }));
    expect(cross.template.findResources('Custom::SecurityLakeCustomLogSource')).toEqual({});
    expect(cross.template.findResources('AWS::Glue::Table')).toEqual({});
    const normalizer = logicalId(cross.stack.ocsf!.function);
    expect(cross.template.toJSON().Resources[normalizer].Properties.Environment.Variables).toMatchObject({
      OCSF_TARGET: 'security-lake', OCSF_EXTERNAL_ID: 'audit-export-ocsf',
      OCSF_MFT_LOCATION: providers.mft.location, OCSF_MFT_ROLE_ARN: providers.mft.roleArn, OCSF_XRAY_ROLE_ARN: providers.xray.roleArn,
    });
    const statements = roleStatements(cross.template, functionRoleId(cross.template, normalizer));
    expect(statements.filter((statement) => JSON.stringify(statement.Action).includes('sts:'))).toEqual([
      { Sid: 'WriteAsCustomSourceProvider', Effect: 'Allow', Action: 'sts:AssumeRole', Resource: [providers.xray.roleArn, providers.mft.roleArn] },
    ]);
  });

  it('fails synth without the external id', () => {
    expect(() => synthesize(withOcsf({ target: 'security-lake' }))).toThrow('ocsf.securityLake is required with target security-lake');
    expect(() => synthesize(withOcsf({ sourceNames: { mft: 'a-source-name-too-long-for-lake' } }))).toThrow(/ocsf\.sourceNames\.mft must be 1-20 letters/);
  });
});

describe('the twin running the synthesized stack (--target deployed)', () => {
  it.each([
    ['bucket', {}],
    ['security-lake', { target: 'security-lake', securityLake: { externalId: 'audit-export-ocsf' } }],
  ])('refuses a stack with the normalizer (target %s): it has no stand-in for Glue or Security Lake', async (_, ocsf) => {
    const s = synthesize(withOcsf(ocsf));
    const assembly = { directory: s.assemblyDir, stackName: s.stack.stackName, template: s.template.toJSON() as never, assetPaths: {} };
    const bindings = { bucket: 'b', table: 't', endpoints: { s3: 'http://127.0.0.1:1', dynamodb: 'http://127.0.0.1:1' }, credentials: { accessKeyId: 'a', secretAccessKey: 's' } };
    await expect(DeployedStack.start(assembly, bindings)).rejects.toThrow(
      /deploys the OCSF normalizer \(ocsf\.enabled: .*\): the twin has no stand-in for Glue or Security Lake\. Synthesize with ocsf\.enabled false/,
    );
  });
});
