import { Aws, Fn, type RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { NetworkConfig } from '../config.js';

/** The stack output that lists the addresses vendors see (functions/common/allow-list.ts names it in errors). */
export { EGRESS_IPS_OUTPUT } from '../../functions/common/allow-list.js';

export type VpcNetworkConfig = Exclude<NetworkConfig, { mode: 'none' }>;

/** What a function that calls a vendor gets (infra/constructs/audit-function.ts): where it runs, and the ENI rights. */
export interface FunctionPlacement {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.ISubnet[];
  readonly securityGroup: ec2.ISecurityGroup;
  /** The statements Lambda needs to attach the function to these subnets, and nothing wider. */
  readonly statements: iam.PolicyStatement[];
  /** Why the one wildcard of those statements is acceptable (a cdk-nag acknowledgement). */
  readonly acknowledge: { id: string; reason: string };
}

export interface ExportNetworkProps {
  readonly network: VpcNetworkConfig;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The zones of a created VPC, for `Stack.availabilityZones`: the configured names, or that many `Fn::GetAZs`
 * entries, so synth needs no context lookup (and no AWS credentials). Undefined when the stack creates no VPC.
 */
export function networkAvailabilityZones(network: NetworkConfig): string[] | undefined {
  if (network.mode !== 'create') return undefined;
  const zones = network.availabilityZones;
  return typeof zones === 'number' ? Array.from({ length: zones }, (_, index) => Fn.select(index, Fn.getAzs())) : [...zones];
}

const ENI_ARN = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:network-interface/*`;

/**
 * Fixed egress addresses for the functions that call a vendor, so a vendor's IP allow-list can name them.
 *
 * - `create`: a VPC with one public subnet (holding a NAT gateway and its Elastic IP) and one private subnet
 *   per zone; flow logs (ALL traffic) to their own log group; gateway endpoints for S3 and DynamoDB (free, and
 *   the gigabytes CopyReport and ExportPages write to S3 skip the NAT's per-GB charge).
 * - `existing`: the configured private subnets of your VPC; its NAT, flow logs and endpoints stay yours
 *   (gateway endpoints only when asked: a route table holds at most one per service).
 * - both: one security group for the functions, outbound TCP 443 only (vendor APIs, presigned downloads and
 *   AWS endpoints are all HTTPS; DNS goes to the VPC resolver, which security groups do not filter), no inbound.
 *   Interface endpoints for KMS and Secrets Manager when `interfaceEndpoints` is on (reachable from that group only).
 *
 * No endpoint for Step Functions or CloudWatch Logs: no function in the VPC calls Step Functions, and Lambda
 * delivers function logs itself, outside the function's network. The gateway endpoints keep the default
 * (full) policy on purpose: an MFT presigned download may be an S3 URL in the vendor's account.
 */
export class ExportNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.ISubnet[];
  readonly securityGroup: ec2.SecurityGroup;
  /** The Elastic IPs of the created NAT gateways (mode `create` only). */
  readonly elasticIps: ec2.CfnEIP[] = [];
  /** The addresses vendors see: the Elastic IPs (tokens), or the configured `egressIps`. */
  readonly egressIps: string[];

  constructor(scope: Construct, id: string, props: ExportNetworkProps) {
    super(scope, id);
    const { network } = props;
    if (network.mode === 'create') {
      const zones = networkAvailabilityZones(network)!;
      this.elasticIps = zones.map(
        (_, index) =>
          new ec2.CfnEIP(this, `EgressIp${index + 1}`, {
            domain: 'vpc',
            tags: [{ key: 'Name', value: `audit-export egress ${index + 1}` }],
          }),
      );
      const prefix = Number(network.cidr.split('/')[1]);
      const vpc = new ec2.Vpc(this, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr(network.cidr),
        availabilityZones: zones,
        // A quarter of the range per private subnet, a sixteenth per public one (it holds only the NAT gateway).
        subnetConfiguration: [
          { name: 'Functions', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: prefix + 2 },
          { name: 'Egress', subnetType: ec2.SubnetType.PUBLIC, cidrMask: prefix + 4 },
        ],
        natGateways: zones.length,
        natGatewayProvider: ec2.NatProvider.gateway({ eipAllocationIds: this.elasticIps.map((eip) => eip.attrAllocationId) }),
        // Nothing uses the default security group; restricting it would add a custom-resource Lambda.
        restrictDefaultSecurityGroup: false,
      });
      const flowLogs = new logs.LogGroup(this, 'FlowLogs', { retention: props.logRetention, removalPolicy: props.removalPolicy });
      // The delivery role may be assumed by flow logs of this account only (confused-deputy protection).
      const flowLogRole = new iam.Role(this, 'FlowLogRole', {
        description: 'audit-export: delivers the VPC flow logs to their log group',
        assumedBy: new iam.ServicePrincipal('vpc-flow-logs.amazonaws.com').withConditions({
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:vpc-flow-log/*` },
        }),
      });
      vpc.addFlowLog('FlowLog', {
        destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs, flowLogRole),
        trafficType: ec2.FlowLogTrafficType.ALL,
      });
      this.vpc = vpc;
      this.subnets = vpc.privateSubnets;
      this.egressIps = this.elasticIps.map((eip) => eip.attrPublicIp);
      this.addGatewayEndpoints();
    } else {
      const zones = [...new Set(network.subnets.map((subnet) => subnet.availabilityZone))];
      // Imported from configuration, not looked up: synth stays offline.
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: network.vpcId, availabilityZones: zones });
      this.subnets = network.subnets.map((subnet, index) =>
        ec2.Subnet.fromSubnetAttributes(this, `Subnet${index + 1}`, {
          subnetId: subnet.subnetId,
          availabilityZone: subnet.availabilityZone,
          ...(subnet.routeTableId ? { routeTableId: subnet.routeTableId } : {}),
        }),
      );
      this.egressIps = [...network.egressIps];
      if (network.gatewayEndpoints) this.addGatewayEndpoints();
    }

    this.securityGroup = new ec2.SecurityGroup(this, 'FunctionSecurityGroup', {
      vpc: this.vpc,
      description: 'audit-export functions that call a vendor: outbound HTTPS only, no inbound',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to the vendor APIs and AWS endpoints');

    if (network.interfaceEndpoints) {
      const endpoints = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
        vpc: this.vpc,
        description: 'audit-export interface endpoints: HTTPS from the export functions only',
        allowAllOutbound: false,
      });
      endpoints.addIngressRule(this.securityGroup, ec2.Port.tcp(443), 'HTTPS from the export functions');
      const services = { Kms: ec2.InterfaceVpcEndpointAwsService.KMS, SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER };
      for (const [name, service] of Object.entries(services)) {
        new ec2.InterfaceVpcEndpoint(this, `${name}Endpoint`, {
          vpc: this.vpc,
          service,
          subnets: { subnets: this.subnets },
          securityGroups: [endpoints],
          privateDnsEnabled: true,
          open: false,
        });
      }
    }
  }

  /**
   * Where a function that calls a vendor runs, and the EC2 rights Lambda uses (with the function's role) to
   * manage its network interfaces: create them only in these subnets with this security group; delete and
   * (un)assign addresses on network interfaces of this account and region (their ids are chosen at run time);
   * describe, which has no resource-level permissions. What AWSLambdaVPCAccessExecutionRole grants on `*`, narrowed.
   */
  placement(): FunctionPlacement {
    const ec2Arn = (resource: string) => `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    return {
      vpc: this.vpc,
      subnets: this.subnets,
      securityGroup: this.securityGroup,
      statements: [
        new iam.PolicyStatement({
          sid: 'CreateVpcNetworkInterfaces',
          actions: ['ec2:CreateNetworkInterface'],
          resources: [
            ENI_ARN,
            ...this.subnets.map((subnet) => ec2Arn(`subnet/${subnet.subnetId}`)),
            ec2Arn(`security-group/${this.securityGroup.securityGroupId}`),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'ManageVpcNetworkInterfaces',
          actions: ['ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
          resources: [ENI_ARN],
        }),
        new iam.PolicyStatement({
          sid: 'DescribeVpcNetworkInterfaces',
          actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'],
          resources: ['*'],
        }),
      ],
      acknowledge: {
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]',
        reason:
          'Lambda creates and deletes the function\'s network interfaces with its role; their ids are chosen at run time. ' +
          'Creation is limited to the configured subnets and security group.',
      },
    };
  }

  private addGatewayEndpoints(): void {
    for (const [name, service] of [
      ['S3Endpoint', ec2.GatewayVpcEndpointAwsService.S3],
      ['DynamoDbEndpoint', ec2.GatewayVpcEndpointAwsService.DYNAMODB],
    ] as const) {
      new ec2.GatewayVpcEndpoint(this, name, { vpc: this.vpc, service, subnets: [{ subnets: this.subnets }] });
    }
  }
}
