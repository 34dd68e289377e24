import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { MFT_FUNCTIONS } from '../../functions/mft/handlers/index.js';
import { XRAY_FUNCTIONS } from '../../functions/xray/handlers/index.js';
import { EGRESS_IPS_OUTPUT } from '../../functions/common/allow-list.js';
import { parseConfig, type AuditExportConfigInput } from '../../infra/config.js';
import { functionRoleId, getAtt, logicalId, ref, roleStatements } from './iam.js';
import { defaultConfig, synthesize, TEST_ENV, type Synthesized } from './synth.js';

/**
 * The network setting: the functions that call a vendor run in private subnets and leave from fixed addresses
 * (the stack outputs them); everything else, and the default deployment, stays as it was.
 */

/** Both sources, so that both vendors' callers are placed. */
const BOTH: AuditExportConfigInput = {
  ...defaultConfig(),
  sources: { mft: {}, xray: { enabled: true, baseUrl: 'https://acme.jfrog.io' } },
};
const EXISTING = {
  mode: 'existing',
  vpcId: 'vpc-0123456789abcdef0',
  subnets: [
    { subnetId: 'subnet-0aaaaaaaaaaaaaaa1', availabilityZone: 'eu-west-1a', routeTableId: 'rtb-0aaaaaaaaaaaaaaa1' },
    { subnetId: 'subnet-0bbbbbbbbbbbbbbb2', availabilityZone: 'eu-west-1b', routeTableId: 'rtb-0bbbbbbbbbbbbbbb2' },
  ],
  egressIps: ['203.0.113.7', '198.51.100.9'],
} as const;

/** The placeholders of the functions that call the vendor: only these may run in the VPC. */
const MFT_CALLERS = ['IssueTokenFunctionArn', 'CreateReportFunctionArn', 'CheckReportFunctionArn', 'CopyReportFunctionArn', 'DeleteReportFunctionArn', 'HousekeepingFunctionArn'];
const XRAY_CALLERS = ['XrayExportPagesFunctionArn'];

/** What a fresh clone deploys (cdk.json: MFT only, no network setting). */
let fresh: Synthesized;
/** Both sources, no network setting. */
let plain: Synthesized;
let created: Synthesized;
let existing: Synthesized;

beforeAll(() => {
  fresh = synthesize(defaultConfig());
  plain = synthesize(BOTH);
  created = synthesize({ ...BOTH, network: { mode: 'create', interfaceEndpoints: true } });
  existing = synthesize({ ...BOTH, network: { ...EXISTING, subnets: [...EXISTING.subnets], egressIps: [...EXISTING.egressIps] } });
});

const resources = (s: Synthesized) => s.template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any>; DependsOn?: unknown }>;
const ofType = (s: Synthesized, type: string) => Object.entries(resources(s)).filter(([, r]) => r.Type === type);

/** Logical id → function placeholder, for every export function of both sources. */
function exportFunctions(s: Synthesized): Record<string, string> {
  const table: Record<string, string> = {};
  for (const placeholder of Object.keys(MFT_FUNCTIONS)) table[logicalId(s.stack.mft!.export.functions[placeholder as keyof typeof MFT_FUNCTIONS])] = placeholder;
  for (const placeholder of Object.keys(XRAY_FUNCTIONS)) table[logicalId(s.stack.xray!.export.functions[placeholder as keyof typeof XRAY_FUNCTIONS])] = placeholder;
  return table;
}

const eniArn = (resource: string) => ({
  'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':ec2:', ref('AWS::Region'), ':', ref('AWS::AccountId'), `:${resource}`]],
});
/** An EC2 ARN of this account and region; a literal id is part of the last string, a token follows it. */
const eniArnOf = (resource: string, id: unknown) =>
  typeof id === 'string'
    ? eniArn(`${resource}/${id}`)
    : { 'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':ec2:', ref('AWS::Region'), ':', ref('AWS::AccountId'), `:${resource}/`, id]] };

function expectCleanNag(s: Synthesized) {
  const report = new AwsSolutionsChecks().validateScope(s.app);
  expect(report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
}

/** Synth needs no context lookup (no AWS credentials, no network). */
function expectOffline(s: Synthesized) {
  expect(s.app.synth().manifest.missing ?? []).toEqual([]);
}

describe('without a network setting (the default)', () => {
  it('the template of the cdk.json defaults is exactly the one of a configuration that says network mode none', () => {
    expect(parseConfig(defaultConfig()).network).toEqual({ mode: 'none' });
    const none = synthesize({ ...defaultConfig(), network: { mode: 'none' } });
    expect(none.template.toJSON()).toEqual(fresh.template.toJSON());
  });

  it.each([
    ['the cdk.json defaults', () => fresh],
    ['both sources', () => plain],
  ])('%s: no VPC resources, no function in a VPC, no ENI permission and no egress output', (_, get) => {
    const all = resources(get());
    expect(Object.values(all).filter((r) => r.Type.startsWith('AWS::EC2::'))).toEqual([]);
    expect(ofType(get(), 'AWS::Lambda::Function').filter(([, fn]) => fn.Properties.VpcConfig)).toEqual([]);
    expect(JSON.stringify(all)).not.toContain('ec2:');
    expect(get().template.toJSON().Outputs[EGRESS_IPS_OUTPUT]).toBeUndefined();
  });
});

describe.each([
  ['a created VPC', () => created],
  ['an existing VPC', () => existing],
])('in %s', (_, get) => {
  it('every resource of the default template is still there, with the same logical id and type', () => {
    const after = resources(get());
    for (const s of [fresh, plain]) {
      for (const [id, resource] of Object.entries(resources(s))) expect(after[id]?.Type, id).toBe(resource.Type);
    }
    // And they differ only where a function is placed in the VPC (its VpcConfig, its ENI rights).
    const callers = new Set(Object.entries(exportFunctions(get())).filter(([, p]) => [...MFT_CALLERS, ...XRAY_CALLERS].includes(p)).map(([id]) => id));
    // The verifier asks the Xray platform for counts: it leaves from the same addresses.
    if (get().stack.verifier && get().stack.xray) callers.add(logicalId(get().stack.verifier!.function));
    const callerRoles = new Set([...callers].map((id) => functionRoleId(get().template, id)));
    const withoutEni = (policy: Record<string, any>) => ({
      ...policy,
      PolicyDocument: { ...policy.PolicyDocument, Statement: policy.PolicyDocument.Statement.filter((st: { Sid?: string }) => !/VpcNetworkInterfaces$/.test(st.Sid ?? '')) },
    });
    for (const [id, resource] of Object.entries(resources(plain))) {
      if (callers.has(id)) {
        const { VpcConfig, ...rest } = after[id]!.Properties;
        expect(VpcConfig, id).toBeDefined();
        expect(rest, id).toEqual(resource.Properties);
      } else if (resource.Type === 'AWS::IAM::Policy' && callerRoles.has(resource.Properties.Roles[0].Ref)) {
        // The caller's permissions are today's plus the ENI statements (asserted below), nothing else.
        expect(withoutEni(after[id]!.Properties), id).toEqual(resource.Properties);
      } else {
        expect(after[id]!.Properties, id).toEqual(resource.Properties);
      }
    }
  });

  it('only the functions that call a vendor run in the VPC: private subnets, the export security group', () => {
    const s = get();
    const network = s.stack.network!;
    const placed = Object.entries(exportFunctions(s))
      .filter(([id]) => resources(s)[id]!.Properties.VpcConfig)
      .map(([, placeholder]) => placeholder)
      .sort();
    expect(placed).toEqual([...MFT_CALLERS, ...XRAY_CALLERS].sort());
    for (const [id, placeholder] of Object.entries(exportFunctions(s))) {
      const config = resources(s)[id]!.Properties.VpcConfig;
      if (!config) continue;
      expect(config, placeholder).toEqual({
        SecurityGroupIds: [getAtt(logicalId(network.securityGroup), 'GroupId')],
        SubnetIds: network.subnets.map((subnet) => s.stack.resolve(subnet.subnetId)),
      });
    }
    expect(resources(s)[logicalId(s.stack.consumer!.function)]!.Properties.VpcConfig).toBeUndefined();
  });

  it('the security group lets out HTTPS only and lets nothing in', () => {
    const s = get();
    const group = resources(s)[logicalId(s.stack.network!.securityGroup)]!;
    expect(group.Properties.SecurityGroupEgress).toEqual([
      { CidrIp: '0.0.0.0/0', Description: 'HTTPS to the vendor APIs and AWS endpoints', FromPort: 443, IpProtocol: 'tcp', ToPort: 443 },
    ]);
    expect(group.Properties.SecurityGroupIngress).toBeUndefined();
    const ingress = ofType(s, 'AWS::EC2::SecurityGroupIngress').filter(([, rule]) => JSON.stringify(rule.Properties.GroupId).includes(logicalId(s.stack.network!.securityGroup)));
    expect(ingress).toEqual([]);
  });

  it("a VPC function's role gets exactly the ENI rights Lambda needs for its subnets and group; the others get none", () => {
    const s = get();
    const network = s.stack.network!;
    const subnets = network.subnets.map((subnet) => eniArnOf('subnet', s.stack.resolve(subnet.subnetId)));
    const expected = [
      {
        Sid: 'CreateVpcNetworkInterfaces',
        Effect: 'Allow',
        Action: 'ec2:CreateNetworkInterface',
        Resource: [eniArn('network-interface/*'), eniArnOf('security-group', getAtt(logicalId(network.securityGroup), 'GroupId')), ...subnets],
      },
      {
        Sid: 'ManageVpcNetworkInterfaces',
        Effect: 'Allow',
        Action: ['ec2:AssignPrivateIpAddresses', 'ec2:DeleteNetworkInterface', 'ec2:UnassignPrivateIpAddresses'],
        Resource: eniArn('network-interface/*'),
      },
      { Sid: 'DescribeVpcNetworkInterfaces', Effect: 'Allow', Action: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'], Resource: '*' },
    ];
    const sortResources = (st: Record<string, unknown>) =>
      Array.isArray(st.Resource) ? { ...st, Resource: [...st.Resource].map((r) => JSON.stringify(r)).sort() } : st;
    for (const [id, placeholder] of Object.entries(exportFunctions(s))) {
      const statements = roleStatements(s.template, functionRoleId(s.template, id));
      const ec2 = statements.filter((st) => JSON.stringify(st.Action).includes('ec2:'));
      if ([...MFT_CALLERS, ...XRAY_CALLERS].includes(placeholder)) {
        expect(ec2.map(sortResources), placeholder).toEqual(expected.map(sortResources));
      } else {
        expect(ec2, placeholder).toEqual([]);
      }
    }
    for (const [roleId, role] of ofType(s, 'AWS::IAM::Role')) expect(role.Properties.ManagedPolicyArns, roleId).toBeUndefined();
    expect(ofType(s, 'AWS::IAM::ManagedPolicy')).toEqual([]);
  });

  it(`outputs ${EGRESS_IPS_OUTPUT}`, () => {
    const output = get().template.toJSON().Outputs[EGRESS_IPS_OUTPUT];
    expect(output.Description).toMatch(/allow-list/);
    expect(output.Value).toBeDefined();
  });

  it('is cdk-nag clean and synthesizes offline (no context lookup)', () => {
    expectCleanNag(get());
    expectOffline(get());
  });
});

describe('network mode create', () => {
  it('one NAT gateway per zone, each with its own Elastic IP, and the output lists those addresses', () => {
    const eips = ofType(created, 'AWS::EC2::EIP').map(([id]) => id);
    expect(eips).toHaveLength(2);
    const nats = ofType(created, 'AWS::EC2::NatGateway');
    expect(nats.map(([, nat]) => nat.Properties.AllocationId).sort(sortJson)).toEqual(eips.map((id) => getAtt(id, 'AllocationId')).sort(sortJson));
    expect(created.template.toJSON().Outputs[EGRESS_IPS_OUTPUT].Value).toEqual({ 'Fn::Join': [',', eips.map((id) => getAtt(id, 'PublicIp'))] });
    // Each private subnet's default route leads to the NAT gateway of its own zone.
    const subnets = created.stack.network!.subnets;
    expect(subnets).toHaveLength(2);
    const natOfSubnet = new Map(nats.map(([id, nat]) => [JSON.stringify(nat.Properties.SubnetId), id]));
    const routes = ofType(created, 'AWS::EC2::Route').filter(([, r]) => r.Properties.NatGatewayId);
    expect(routes).toHaveLength(2);
    for (const [, route] of routes) expect(route.Properties.DestinationCidrBlock).toBe('0.0.0.0/0');
    expect(new Set(routes.map(([, r]) => r.Properties.NatGatewayId.Ref))).toEqual(new Set(natOfSubnet.values()));
    expect(created.template.toJSON().Resources[logicalId(created.stack.network!.vpc)].Properties.CidrBlock).toBe('10.64.0.0/24');
  });

  it('flow logs of ALL traffic go to their own log group, through a role only this account may use', () => {
    const flowLogs = ofType(created, 'AWS::EC2::FlowLog');
    expect(flowLogs).toHaveLength(1);
    const [, flowLog] = flowLogs[0]!;
    expect(flowLog.Properties).toMatchObject({ ResourceType: 'VPC', TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
    const logGroup = resources(created)[flowLog.Properties.LogGroupName.Ref]!;
    expect(logGroup.Properties.RetentionInDays).toBe(365);
    const roleId = flowLog.Properties.DeliverLogsPermissionArn['Fn::GetAtt'][0];
    const trust = resources(created)[roleId]!.Properties.AssumeRolePolicyDocument.Statement[0];
    expect(trust.Principal).toEqual({ Service: 'vpc-flow-logs.amazonaws.com' });
    expect(trust.Condition.StringEquals).toEqual({ 'aws:SourceAccount': ref('AWS::AccountId') });
    expect(roleStatements(created.template, roleId)).toEqual([
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'], Resource: getAtt(flowLog.Properties.LogGroupName.Ref) },
    ]);
  });

  it('S3 and DynamoDB gateway endpoints on the private route tables; KMS and Secrets Manager interface endpoints reachable from the functions only', () => {
    const endpoints = ofType(created, 'AWS::EC2::VPCEndpoint').map(([, e]) => e.Properties);
    const service = (e: Record<string, any>) => JSON.stringify(e.ServiceName).match(/\.(s3|dynamodb|kms|secretsmanager)"/)![1];
    expect(endpoints.map(service).sort()).toEqual(['dynamodb', 'kms', 's3', 'secretsmanager']);
    const privateTables = created.stack.network!.subnets.map((subnet) => created.stack.resolve(subnet.routeTable.routeTableId));
    for (const endpoint of endpoints.filter((e) => e.VpcEndpointType === 'Gateway')) {
      expect(endpoint.RouteTableIds).toEqual(privateTables);
      expect(endpoint.PolicyDocument).toBeUndefined(); // an MFT presigned download may be an S3 URL in the vendor's account
    }
    const functionGroup = getAtt(logicalId(created.stack.network!.securityGroup), 'GroupId');
    for (const endpoint of endpoints.filter((e) => e.VpcEndpointType === 'Interface')) {
      expect(endpoint.PrivateDnsEnabled).toBe(true);
      expect(endpoint.SubnetIds).toEqual(created.stack.network!.subnets.map((subnet) => created.stack.resolve(subnet.subnetId)));
      const [groupRef] = endpoint.SecurityGroupIds;
      const groupId = groupRef['Fn::GetAtt'][0];
      expect(resources(created)[groupId]!.Properties.SecurityGroupIngress).toBeUndefined();
      const ingress = ofType(created, 'AWS::EC2::SecurityGroupIngress').filter(([, rule]) => JSON.stringify(rule.Properties.GroupId).includes(groupId));
      expect(ingress.map(([, rule]) => rule.Properties)).toEqual([
        { Description: 'HTTPS from the export functions', FromPort: 443, GroupId: groupRef, IpProtocol: 'tcp', SourceSecurityGroupId: functionGroup, ToPort: 443 },
      ]);
    }
  });

  it('adds no Lambda, custom resource or managed policy of its own (the default security group is left alone)', () => {
    expect(ofType(created, 'AWS::Lambda::Function')).toHaveLength(ofType(plain, 'AWS::Lambda::Function').length);
    expect(Object.values(resources(created)).filter((r) => r.Type.startsWith('Custom::'))).toEqual([]);
  });

  it('one zone: one NAT gateway and one address; zone names are used as given, without interface endpoints by default', () => {
    const single = synthesize({ ...BOTH, network: { mode: 'create', availabilityZones: ['eu-west-1c'], cidr: '10.20.0.0/22' } });
    expect(ofType(single, 'AWS::EC2::NatGateway')).toHaveLength(1);
    expect(ofType(single, 'AWS::EC2::EIP')).toHaveLength(1);
    const subnets = ofType(single, 'AWS::EC2::Subnet').map(([, subnet]) => subnet.Properties);
    expect(subnets.map((subnet) => [subnet.AvailabilityZone, subnet.CidrBlock, subnet.MapPublicIpOnLaunch])).toEqual([
      ['eu-west-1c', '10.20.0.0/24', false],
      ['eu-west-1c', '10.20.1.0/26', true],
    ]);
    expect(ofType(single, 'AWS::EC2::VPCEndpoint').map(([, e]) => e.Properties.VpcEndpointType)).toEqual(['Gateway', 'Gateway']);
    expect(single.template.toJSON().Outputs[EGRESS_IPS_OUTPUT].Value).toEqual(getAtt(ofType(single, 'AWS::EC2::EIP')[0]![0], 'PublicIp'));
    expectCleanNag(single);
    expectOffline(single);
  });
});

describe('network mode existing', () => {
  it('imports the configured subnets: no VPC, subnet, NAT, address or flow log is created, and the output lists the configured addresses', () => {
    for (const type of ['AWS::EC2::VPC', 'AWS::EC2::Subnet', 'AWS::EC2::NatGateway', 'AWS::EC2::EIP', 'AWS::EC2::FlowLog', 'AWS::EC2::VPCEndpoint']) {
      expect(ofType(existing, type), type).toEqual([]);
    }
    expect(existing.template.toJSON().Outputs[EGRESS_IPS_OUTPUT].Value).toBe('203.0.113.7,198.51.100.9');
    const pages = resources(existing)[logicalId(existing.stack.xray!.export.functions.XrayExportPagesFunctionArn)]!;
    expect(pages.Properties.VpcConfig.SubnetIds).toEqual(['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0bbbbbbbbbbbbbbb2']);
    expect(resources(existing)[logicalId(existing.stack.network!.securityGroup)]!.Properties.VpcId).toBe('vpc-0123456789abcdef0');
  });

  it('adds gateway and interface endpoints only when asked, on the configured route tables and subnets', () => {
    const withEndpoints = synthesize({
      ...BOTH,
      network: { ...EXISTING, subnets: [...EXISTING.subnets], egressIps: [...EXISTING.egressIps], gatewayEndpoints: true, interfaceEndpoints: true },
    });
    const endpoints = ofType(withEndpoints, 'AWS::EC2::VPCEndpoint').map(([, e]) => e.Properties);
    expect(endpoints.filter((e) => e.VpcEndpointType === 'Gateway').map((e) => e.RouteTableIds)).toEqual([
      ['rtb-0aaaaaaaaaaaaaaa1', 'rtb-0bbbbbbbbbbbbbbb2'],
      ['rtb-0aaaaaaaaaaaaaaa1', 'rtb-0bbbbbbbbbbbbbbb2'],
    ]);
    expect(endpoints.filter((e) => e.VpcEndpointType === 'Interface').map((e) => [e.VpcId, e.SubnetIds])).toEqual([
      ['vpc-0123456789abcdef0', ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0bbbbbbbbbbbbbbb2']],
      ['vpc-0123456789abcdef0', ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0bbbbbbbbbbbbbbb2']],
    ]);
    expectCleanNag(withEndpoints);
    expectOffline(withEndpoints);
  });
});

describe('network configuration errors', () => {
  const error = (network: unknown, env: object = TEST_ENV) => {
    try {
      parseConfig({ env, network });
    } catch (caught) {
      return (caught as Error).message;
    }
    return 'accepted';
  };

  it('name the field and what to do', () => {
    expect(error({ mode: 'vpc' })).toMatch(/network\.mode must be none, create or existing/);
    expect(error({ mode: 'create', availabilityZones: 4 })).toMatch(/network\.availabilityZones/);
    expect(error({ mode: 'create', availabilityZones: ['eu-west-1a', 'eu-west-1a'] })).toMatch(/network\.availabilityZones must not name a zone twice/);
    expect(error({ mode: 'create', availabilityZones: ['us-east-1a'] })).toMatch(/network\.availabilityZones\.0 us-east-1a is not a zone of env\.region eu-west-1/);
    expect(error({ mode: 'create', cidr: '10.0.0.0/26' })).toMatch(/network\.cidr must be an IPv4 CIDR block from \/16 to \/24/);
    const { egressIps: _, ...withoutIps } = EXISTING;
    expect(error(withoutIps)).toMatch(/network\.egressIps is required/);
    expect(error({ ...EXISTING, egressIps: ['10.1.2.3'] })).toMatch(/network\.egressIps\.0 must be a public address/);
    expect(error({ ...EXISTING, egressIps: ['203.0.113'] })).toMatch(/network\.egressIps\.0 must be an IPv4 address/);
    expect(error({ ...EXISTING, vpcId: 'vpc-123' })).toMatch(/network\.vpcId must be an id such as vpc-/);
    expect(error({ ...EXISTING, subnets: [{ subnetId: 'subnet-0aaaaaaaaaaaaaaa1', availabilityZone: 'eu-west-1a' }], gatewayEndpoints: true })).toMatch(
      /network\.subnets\.0\.routeTableId is required when gatewayEndpoints is on/,
    );
    expect(error({ ...EXISTING, subnets: [EXISTING.subnets[0], EXISTING.subnets[0]] })).toMatch(/network\.subnets must not list a subnet twice/);
    expect(error({ ...EXISTING, natGateways: 2 })).toMatch(/network has unknown field\(s\) natGateways/);
    // Zone names cannot be checked against a region the configuration does not pin.
    expect(error({ mode: 'create', availabilityZones: ['us-east-1a'] }, {})).toBe('accepted');
    expect(error(EXISTING)).toBe('accepted');
  });
});

function sortJson(a: unknown, b: unknown): number {
  return JSON.stringify(a) < JSON.stringify(b) ? -1 : 1;
}
