import { Stack, type CfnElement } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';

/** Small readers over a synthesized template, for asserting exact permissions. */

export function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return Stack.of(construct).getLogicalId(element);
}

export const getAtt = (id: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [id, attribute] });
export const ref = (id: string) => ({ Ref: id });

type Statement = Record<string, unknown>;

/**
 * Every permission a role has: the statements of the (only) AWS::IAM::Policy attached to it. Fails if the role
 * carries managed policies, inline policies, or more than one attached policy.
 */
export function roleStatements(template: Template, roleId: string): Statement[] {
  const role = template.toJSON().Resources[roleId] as { Type: string; Properties: Record<string, unknown> };
  if (role?.Type !== 'AWS::IAM::Role') throw new Error(`${roleId} is not a role`);
  if (role.Properties.ManagedPolicyArns) throw new Error(`${roleId} has managed policies`);
  if (role.Properties.Policies) throw new Error(`${roleId} has inline policies`);
  const attached = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, policy]) =>
    (policy.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify(ref(roleId))),
  );
  const managed = Object.entries(template.findResources('AWS::IAM::ManagedPolicy')).filter(([, policy]) =>
    ((policy.Properties.Roles as unknown[] | undefined) ?? []).some((r) => JSON.stringify(r) === JSON.stringify(ref(roleId))),
  );
  if (managed.length) throw new Error(`${roleId} has customer-managed policies`);
  if (attached.length !== 1) throw new Error(`${roleId} has ${attached.length} attached policies, expected 1`);
  const statements = (attached[0]![1].Properties.PolicyDocument as { Statement: Statement[] }).Statement;
  return statements;
}

/** The role a Lambda function runs as. */
export function functionRoleId(template: Template, functionId: string): string {
  const fn = template.toJSON().Resources[functionId] as { Properties: { Role: { 'Fn::GetAtt': [string, string] } } };
  return fn.Properties.Role['Fn::GetAtt'][0];
}

/** Order-insensitive, exact comparison of two statement lists (same length, each expected one present). */
export function sameStatements(actual: Statement[], expected: Statement[]): boolean {
  const canon = (s: Statement) => JSON.stringify(sortDeep(s));
  const a = actual.map(canon).sort();
  const e = expected.map(canon).sort();
  return a.length === e.length && a.every((value, index) => value === e[index]);
}

function sortDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortDeep);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, sortDeep(v)]),
    );
  }
  return value;
}
