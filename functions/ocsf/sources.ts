import type { MappingContext, MappingResult, SourceRecord } from './mapping.js';
import { API_ACTIVITY, mapMftRecord } from './mft-mapping.js';
import { parquetLayout, type ParquetLayout, type Projection } from './parquet.js';
import type { SourceFormat } from './readers.js';
import type { CompiledClass } from './schema.js';
import { mapXrayEvent, WEB_RESOURCES_ACTIVITY } from './xray-mapping.js';

/**
 * What the normalizer knows of each exported source: its OCSF class, how a record maps, which attributes the
 * Parquet files hold (every attribute the mapping can emit: test/ocsf checks it), and how its objects are read.
 */
export interface OcsfSource {
  source: 'mft' | 'xray';
  eventClass: CompiledClass;
  /** The class's name in Security Lake's custom-source event classes. */
  securityLakeEventClass: string;
  map(record: SourceRecord, context: MappingContext): MappingResult;
  layout: ParquetLayout;
  /** How an object of the manifest's `format` is read; undefined: a format this normalizer does not read. */
  reader(format: string): { format: SourceFormat; gzipped: boolean; groupXrayCsv?: boolean } | undefined;
}

const CLASSIFICATION: Projection = {
  activity_id: true, activity_name: true, category_uid: true, category_name: true, class_uid: true, class_name: true,
  type_uid: true, type_name: true, severity_id: true, severity: true, time: true, timezone_offset: true,
};

const METADATA: Projection = {
  version: true, uid: true, product: { name: true, vendor_name: true }, tenant_uid: true, log_name: true,
  original_time: true, profiles: true, labels: true,
};

export const MFT_PROJECTION: Projection = {
  ...CLASSIFICATION,
  status_id: true, status: true, message: true,
  metadata: METADATA,
  actor: { user: { name: true, email_addr: true, type_id: true, type: true } },
  api: { operation: true },
  src_endpoint: { ip: true },
  resources: [{ type: true, name: true }],
  unmapped: true,
};

export const XRAY_PROJECTION: Projection = {
  ...CLASSIFICATION,
  action_id: true, action: true, disposition_id: true, disposition: true, message: true,
  metadata: METADATA,
  actor: { user: { name: true, email_addr: true } },
  web_resources: [{ name: true, type: true, url_string: true, data: true }],
  authorizations: [{ decision: true, policy: { uid: true, name: true, desc: true, group: { name: true } } }],
  unmapped: true,
};

export const MFT_SOURCE: OcsfSource = {
  source: 'mft',
  eventClass: API_ACTIVITY,
  securityLakeEventClass: 'API_ACTIVITY',
  map: mapMftRecord,
  layout: parquetLayout(API_ACTIVITY, MFT_PROJECTION),
  reader: (format) => (format === 'json' ? { format: 'json-array', gzipped: false } : format === 'csv' ? { format: 'csv', gzipped: false } : undefined),
};

export const XRAY_SOURCE: OcsfSource = {
  source: 'xray',
  eventClass: WEB_RESOURCES_ACTIVITY,
  securityLakeEventClass: 'WEB_RESOURCES_ACTIVITY',
  map: mapXrayEvent,
  layout: parquetLayout(WEB_RESOURCES_ACTIVITY, XRAY_PROJECTION),
  reader: (format) =>
    format === 'ndjson.gz' ? { format: 'ndjson', gzipped: true } : format === 'csv.gz' ? { format: 'csv', gzipped: true, groupXrayCsv: true } : undefined,
};

export const OCSF_SOURCES: Record<string, OcsfSource> = { mft: MFT_SOURCE, xray: XRAY_SOURCE };
