import { isIP } from 'node:net';
import { eventHeader, FieldReader, isEmail, metadata, remembered, type FieldNames, parseEventTime, type MappingContext, type MappingResult, type SourceRecord } from './mapping.js';
import { enumCaption, ocsfClass } from './schema.js';

/**
 * Progress Automate MFT audit log records → OCSF 1.1.0 API Activity (6003). The README ("OCSF output") gives the
 * field-by-field table and why API Activity rather than Entity Management (3004): in 1.1.0 Entity Management has
 * no src_endpoint, so the source address would only be kept unmapped, while every attribute API Activity requires
 * (actor, api, src_endpoint) comes from a field every record carries.
 *
 * The record's field names are an assumption (no public page documents the report's schema): each is also looked
 * up under the names a vendor plausibly uses, values the mapping does not know become the schema's 0 (Unknown) or
 * 99 (Other) with the vendor's word beside them, and every field not mapped is kept in `unmapped`.
 */

export const API_ACTIVITY = ocsfClass('api_activity');
export const MFT_PRODUCT = { name: 'Automate MFT', vendor_name: 'Progress' };

/** The names each field is read under (any case), the one the emulator writes first. */
const FIELDS = {
  timestamp: ['timestamp', 'time', 'eventTime', 'createdAt', 'date', 'dateTime', 'occurredAt'],
  actor: ['actor', 'user', 'userName', 'username', 'actorName', 'email', 'userEmail', 'principal'],
  sourceIp: ['sourceIp', 'sourceIP', 'ip', 'ipAddress', 'clientIp', 'remoteAddress', 'remoteIp'],
  action: ['action', 'operation', 'activity', 'eventType'],
  outcome: ['outcome', 'result', 'status'],
  actorType: ['actorType', 'principalType', 'userType'],
  resource: ['resource', 'resourceType', 'resourceGroup', 'entityType'],
  resourceName: ['resourceName', 'entityName', 'objectName', 'target'],
  details: ['details', 'message', 'description'],
  id: ['id', 'eventId', 'auditId', 'auditLogId', 'uid'],
} as const satisfies Record<string, FieldNames>;

/** The vendor's action (any case) → activity_id. */
const ACTIVITIES: Record<string, number> = { create: 1, get: 2, read: 2, update: 3, delete: 4 };
/** The vendor's outcome (any case) → status_id. */
const STATUSES: Record<string, number> = { success: 1, succeeded: 1, error: 2, failure: 2, failed: 2 };

const isAddress = remembered((value) => isIP(value) !== 0);

export function mapMftRecord(record: SourceRecord, context: MappingContext): MappingResult {
  const fields = new FieldReader(record);
  const rawTime = fields.text(FIELDS.timestamp);
  const when = parseEventTime(rawTime);
  if (!when) return { unmappable: rawTime === undefined ? 'no timestamp' : `timestamp ${JSON.stringify(rawTime.slice(0, 40))} is not a date` };

  const actorName = fields.text(FIELDS.actor);
  if (!actorName) return { unmappable: 'no actor (API Activity requires actor)' };
  const address = fields.text(FIELDS.sourceIp);
  const ip = address?.trim();
  if (!ip || !isAddress(ip)) {
    return { unmappable: address === undefined ? 'no source IP (API Activity requires src_endpoint)' : `source IP ${JSON.stringify(address.slice(0, 60))} is not an IP address` };
  }

  const action = fields.text(FIELDS.action);
  const activityId = action === undefined ? 0 : (ACTIVITIES[action.toLowerCase()] ?? 99);
  const outcome = fields.text(FIELDS.outcome);
  const statusId = outcome === undefined ? 0 : (STATUSES[outcome.toLowerCase()] ?? 99);
  const actorType = fields.text(FIELDS.actorType);
  const resource = fields.text(FIELDS.resource);
  const resourceName = fields.text(FIELDS.resourceName);
  const details = fields.text(FIELDS.details);
  const id = fields.text(FIELDS.id);

  const user = {
    name: actorName,
    email_addr: isEmail(actorName) ? actorName : undefined,
    ...userType(actorType),
  };
  const event = {
    ...eventHeader(API_ACTIVITY, activityId, statusId === 2 ? 2 : 1, action),
    time: when.time,
    timezone_offset: when.timezoneOffset,
    status_id: statusId,
    status: statusId === 99 ? outcome : enumCaption(API_ACTIVITY, 'status_id', statusId),
    message: details,
    metadata: metadata({ product: MFT_PRODUCT, uid: id, tenant: context.tenant, logName: 'Audit Logs', originalTime: rawTime }),
    actor: { user },
    api: { operation: action ?? 'Unknown' },
    src_endpoint: { ip },
    // resource_details needs a name or uid: a resource group without a name stays in unmapped.
    resources: resourceName ? [({ type: resource, name: resourceName })] : undefined,
    unmapped: fields.rest(resource && !resourceName ? { resource } : {}),
  };
  return { event };
}

/** actorType → user.type_id: User → 1 (User); anything else (ApiKey) → 99 (Other) with the vendor's word. */
function userType(actorType: string | undefined): { type_id: number; type: string } {
  if (actorType === undefined) return { type_id: 0, type: 'Unknown' };
  if (actorType.toLowerCase() === 'user') return { type_id: 1, type: 'User' };
  return { type_id: 99, type: actorType };
}
