import type { Template } from 'aws-cdk-lib/assertions';

/**
 * What makes a deployed source the same one after an update: the logical ids and types of its resources (a new
 * id replaces the resource), the names AWS keys them by, what its alarms watch, what its schedules send, and
 * which environment variables its functions read. Deliberately not sizes, timeouts, definitions or policies,
 * which other changes tune without replacing anything.
 */
export interface SourceIdentity {
  /** Every resource of the stack outside the sources (bucket, table, topic…): id → type. */
  shared: Record<string, string>;
  /** The sources' resources (ids starting Mft or Xray, and their schedules' roles): id → identity. */
  sources: Record<string, Record<string, unknown>>;
  outputs: string[];
}

const SOURCE_ID = /^(Mft|Xray|SchedulerRoleForTarget)/;

export function sourceIdentity(template: Template): SourceIdentity {
  const json = template.toJSON() as { Resources: Record<string, { Type: string; Properties?: Record<string, any> }>; Outputs?: Record<string, unknown> };
  const identity: SourceIdentity = { shared: {}, sources: {}, outputs: Object.keys(json.Outputs ?? {}).sort() };
  for (const [id, resource] of Object.entries(json.Resources)) {
    if (!SOURCE_ID.test(id)) {
      identity.shared[id] = resource.Type;
      continue;
    }
    const p = resource.Properties ?? {};
    const entry: Record<string, unknown> = { type: resource.Type };
    if (resource.Type === 'AWS::StepFunctions::StateMachine') entry.name = p.StateMachineName;
    if (resource.Type === 'AWS::Lambda::Function') entry.environment = Object.keys(p.Environment?.Variables ?? {}).sort();
    if (resource.Type === 'AWS::Scheduler::Schedule') entry.schedule = { expression: p.ScheduleExpression, input: p.Target?.Input, arn: p.Target?.Arn };
    if (resource.Type === 'AWS::CloudWatch::Alarm') {
      entry.metric = p.MetricName ? { namespace: p.Namespace, name: p.MetricName, dimensions: p.Dimensions } : p.Metrics;
    }
    identity.sources[id] = entry;
  }
  return identity;
}
