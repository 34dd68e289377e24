import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { streamKey } from '../functions/common/checkpoints.js';
import { filtersId } from '../functions/common/s3-layout.js';
import { instantProblem } from '../functions/common/time-window.js';
import { MFT_WINDOW_CONCURRENCY, MIN_WINDOW_START_BUDGET_MS, WINDOW_COPY_RESERVE_MS } from '../functions/mft/export-plan.js';
import { mftFiltersSchema } from '../functions/mft/model.js';
import { MFT_EXECUTION_TIMEOUT_MS } from '../functions/mft/runtime.js';

/**
 * The deployment's typed configuration. It comes from cdk.json (context key `audit-export`) or from a JSON
 * file named with `-c config=path/to/config.json`; see infra/config.example.json and infra/README.md.
 * Anything wrong fails `cdk synth` with one message naming every bad field.
 */

/** Retention periods CloudWatch Logs accepts (days). */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const httpsUrl = (example: string) =>
  z
    .string({ message: `is required, e.g. ${example}` })
    .refine((value) => {
      try {
        const url = new URL(value);
        return url.protocol === 'https:' && !url.username && !url.password;
      } catch {
        return false;
      }
    }, `must be an https URL (e.g. ${example})`)
    .transform((value) => value.replace(/\/+$/, ''));

/** An EventBridge Scheduler expression: rate(...), cron(6 fields) or at(...). */
const scheduleExpression = (example: string) =>
  z
    .string({ message: `is required, e.g. ${example}` })
    .refine(
      (value) =>
        /^rate\(\s*[1-9]\d*\s+(minute|minutes|hour|hours|day|days)\s*\)$/.test(value) ||
        /^cron\(\s*\S+(\s+\S+){5}\s*\)$/.test(value) ||
        (/^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$/.test(value) && instantProblem(`${value.slice(3, -1)}Z`) === undefined),
      `must be an EventBridge Scheduler expression: rate(1 hour), cron(0 * * * ? *) (6 fields) or at(2026-01-01T00:00:00) on a real date and time (e.g. ${example})`,
    );

const positiveInt = (max: number) => z.number().int().positive().max(max);

const logRetentionDays = z
  .number()
  .refine((value) => (LOG_RETENTION_DAYS as readonly number[]).includes(value), {
    message: `must be one of the CloudWatch Logs retention periods: ${LOG_RETENTION_DAYS.join(', ')}`,
  });

const bucketName = z
  .string()
  .regex(
    /^(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    'must be a valid S3 bucket name (3-63 characters: lower-case letters, digits, dots and hyphens)',
  );

/** Window length on the grid (minutes): a divisor of a day, so windows never straddle a `dt=` folder. */
const windowMinutes = z
  .number()
  .int()
  .min(1)
  .max(1440)
  .refine((value) => 1440 % value === 0, 'must divide a day (1440 minutes) evenly, e.g. 15, 30, 60, 180 or 1440');

/** How long a source's runtime waits after a window ends before exporting it (late events), in minutes. */
const lagMinutes = z.number().int().min(0).max(1440);
/** Where a stream without a checkpoint starts: this many hours before `now − lag`. */
const initialLookbackHours = z.number().positive().max(24 * 366);

/**
 * A field that existed before the checkpoint ledger: rejected with a pointer to what replaced it (instead of
 * "unknown field"), so an old config file fails with instructions.
 */
const removed = (hint: string) =>
  z
    .unknown()
    .refine((value) => value === undefined, `is no longer supported: ${hint}`)
    .optional();

const LOOKBACK_REMOVED =
  'scheduled runs continue from the checkpoint; set initialLookbackHours (first run), windowMinutes and maxWindowsPerRun';

const mftSchema = z
  .object({
    enabled: z.boolean().default(true),
    baseUrl: httpsUrl('https://api.us.mft.progress.com').default('https://api.us.mft.progress.com'),
    /**
     * The tenant id is not secret (it names the S3 folder). Set it here and only the functions that call the MFT
     * API read the credentials secret; leave it out and PlanExport and CommitRun may read the secret to learn it.
     */
    tenantId: z.string().min(1).max(128).optional(),
    schedule: scheduleExpression('cron(0 * * * ? *)').default('cron(0 * * * ? *)'),
    /** One MFT report per grid window of this many minutes. */
    windowMinutes: windowMinutes.default(60),
    /** A window is exported this long after it ends (MFT commits events late). */
    lagMinutes: lagMinutes.default(15),
    initialLookbackHours: initialLookbackHours.default(24),
    /** A scheduled run exports at most this many windows (a stream far behind catches up over several runs). */
    maxWindowsPerRun: positiveInt(500).default(48),
    pollIntervalSeconds: positiveInt(300).default(15),
    maxWaitSeconds: positiveInt(86_400).default(900),
    type: z.enum(['json', 'csv']).default('json'),
    /** Filters every scheduled run applies (the same names as the execution input / the CLI flags). */
    filters: mftFiltersSchema.default({}),
    /**
     * Report downloads may connect to private addresses: only for storage reached through a VPC interface
     * endpoint. Link-local (instance metadata) and loopback addresses are refused whatever this says.
     */
    allowPrivateDownloadAddresses: z.boolean().default(false),
    /** Hosts (or `.suffix`es) an https redirect of a report download may lead to besides the link's own. */
    downloadRedirectHosts: z.array(z.string().regex(/^\.?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'must be a host name, or .suffix for its subdomains')).default([]),
    lookbackHours: removed(LOOKBACK_REMOVED),
  })
  .strict();

/** ExportPages stops fetching 120 s before its 15-minute Lambda timeout: the budget must fit before that. */
export const XRAY_MAX_INVOCATION_BUDGET_SECONDS = 900 - 120;

const xraySchema = z
  .object({
    enabled: z.boolean().default(false),
    /** The JFrog Platform URL. */
    baseUrl: httpsUrl('https://acme.jfrog.io').optional(),
    /** Names the S3 folder (tenant=...); by default the platform URL's host name. */
    tenant: z.string().min(1).max(128).optional(),
    schedule: scheduleExpression('cron(0 * * * ? *)').default('cron(0 * * * ? *)'),
    /** Grid window (one manifest each). */
    windowMinutes: windowMinutes.default(60),
    /** Consecutive windows per Map item (one ExportPages loop walks them in turn). */
    groupHours: z.number().positive().max(24 * 31).default(168),
    lagMinutes: lagMinutes.default(15),
    /** A scheduled run re-exports this many hours before the checkpoint, so late events join their windows. */
    overlapHours: z.number().min(0).max(168).default(2),
    initialLookbackHours: initialLookbackHours.default(24),
    maxWindowsPerRun: positiveInt(24 * 366).default(24 * 31),
    format: z.enum(['json', 'csv']).default('json'),
    /** Events per gzip part object. */
    eventsPerPart: positiveInt(10_000_000).default(100_000),
    /** How long one ExportPages invocation fetches before handing its cursor back to the state machine. */
    invocationBudgetSeconds: z.number().int().min(60).max(XRAY_MAX_INVOCATION_BUDGET_SECONDS).default(600),
    lookbackHours: removed(LOOKBACK_REMOVED),
    windowHours: removed('windows are now a fixed grid: set windowMinutes (one manifest each) and groupHours (one Map item)'),
  })
  .strict();

/**
 * Several instances of a source (an MFT tenant per region, a SaaS and a self-hosted JFrog platform): `sources.mft`
 * and `sources.xray` take a list of instances, each with a `name`; the single-object form is one instance that
 * keeps the resource ids and names it always had. A name appears in resource names and the CLI's `--instance`,
 * never in object keys or checkpoints (those are the stream's: source, tenant, filters, format).
 */
export const INSTANCE_NAME_MAX = 16;
/** The name of the instance a single-object source configures. */
export const SINGLE_INSTANCE_NAME = 'default';
/** At most this many instances per source (each adds a state machine, its functions and alarms to the stack). */
export const MAX_INSTANCES_PER_SOURCE = 8;

const instanceName = z
  .string({ message: 'is required in a list of instances, e.g. "eu"' })
  .max(INSTANCE_NAME_MAX)
  .regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, 'must be lower-case letters and digits with single hyphens between them, starting with a letter (e.g. eu, us-staging)');

/** One instance as the stack builds it: the source's settings, its name, and whether it came from a list. */
export type SourceInstance<T> = T & {
  readonly name: string;
  /** Listed instances are named after `name` (resources, metrics); the single-object form keeps the names it had. */
  readonly listed: boolean;
  /** Where it is configured (`sources.mft` or `sources.mft.1`), for error messages. */
  readonly at: (string | number)[];
};

/** A source's setting: one object (an instance of the single-object form) or a list of named instances. */
function instancesOf<Shape extends z.core.$ZodLooseShape>(source: 'mft' | 'xray', single: z.ZodObject<Shape, z.core.$strict>) {
  const listed = single.extend({ name: instanceName, enabled: z.boolean().default(true) }).strict();
  return z
    .union([
      single,
      z
        .array(listed)
        .min(1, 'must list at least one instance (or be one object)')
        .max(MAX_INSTANCES_PER_SOURCE)
        .superRefine((instances, ctx) => {
          const seen = new Set<string>();
          (instances as { name: string }[]).forEach((instance, index) => {
            if (seen.has(instance.name)) ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `"${instance.name}" names two instances: names must be unique` });
            seen.add(instance.name);
          });
        }),
    ])
    .transform((value) =>
      (Array.isArray(value)
        ? value.map((instance, index) => ({ ...instance, listed: true, at: ['sources', source, index] }))
        : [{ ...value, name: SINGLE_INSTANCE_NAME, listed: false, at: ['sources', source] }]
      ).filter((instance) => (instance as { enabled: boolean }).enabled) as SourceInstance<z.output<typeof single>>[],
    );
}

/** Security Lake's limit on a custom source's name (functions/ocsf/runtime.ts). */
const ocsfSourceName = z.string().regex(/^[a-zA-Z0-9_-]{1,20}$/, 'must be 1-20 letters, digits, "-" or "_" (Security Lake\'s limit on a custom source name)');

/**
 * The OCSF normalizer (opt-in): every window's manifest triggers the window's OCSF 1.1 Parquet file, in a folder of the
 * export bucket with a Glue table over it (`target: bucket`), or in Amazon Security Lake custom sources registered by
 * this stack (`target: security-lake`, deploy in the Security Lake administrator account).
 */
const ocsfSchema = z
  .object({
    enabled: z.boolean().default(false),
    target: z.enum(['bucket', 'security-lake']).default('bucket'),
    /** The folder under the export prefix (target bucket). */
    prefix: z.string().regex(/^([A-Za-z0-9._-]+\/)+$/, 'must be folder names each ending in "/" (e.g. ocsf/)').default('ocsf/'),
    sourceNames: z.object({ mft: ocsfSourceName.default('progress-mft'), xray: ocsfSourceName.default('jfrog-xray-curation') }).strict().default({ mft: 'progress-mft', xray: 'jfrog-xray-curation' }),
    /** The Glue database of the tables over the OCSF folder (target bucket). */
    glueDatabase: z.string().regex(/^[a-z0-9_]{1,255}$/, 'must be lower-case letters, digits and "_"').default('audit_export_ocsf'),
    securityLake: z
      .object({
        /** The external id the provider role's trust policy requires (Security Lake's provider identity). */
        externalId: z.string().regex(/^[\w+=,.@:\/-]{2,1224}$/, 'must be 2-1224 characters of letters, digits and +=,.@:/-_'),
        sourceVersion: z.string().regex(/^[A-Za-z0-9._-]{1,32}$/).default('1.0'),
        /**
         * Custom sources registered in another account (the Security Lake administrator's): their ProviderDetails.
         * Given, the stack registers nothing and the normalizer writes there, assuming the role with the external id.
         */
        providers: z
          .record(
            z.enum(['mft', 'xray']),
            z.object({
              location: z.string().regex(/^s3:\/\/[a-z0-9.-]{3,63}\/.+/, 'must be the custom source\'s ProviderDetails.Location (s3://aws-security-data-lake-…/ext/<name>/…)'),
              roleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+/, 'must be the custom source\'s ProviderDetails.RoleArn'),
            }).strict(),
          )
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
/** A public IPv4 address, as a vendor's allow-list needs (not RFC 1918, loopback, link-local or CGNAT space). */
const publicIpv4 = z
  .ipv4({ message: 'must be an IPv4 address such as 203.0.113.7' })
  .refine((value) => {
    const [a = 0, b = 0] = value.split('.').map(Number);
    return !(a === 10 || a === 127 || a === 0 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127));
  }, 'must be a public address (the Elastic IP of a NAT gateway), not a private one');
const availabilityZone = z
  .string()
  .regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'must be an availability zone name such as eu-west-1a');
const awsId = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`), `must be an id such as ${prefix}-0123456789abcdef0`);

/**
 * Where the functions that call a vendor run (infra/constructs/network.ts). `none`: outside any VPC, from
 * changing AWS addresses. `create`: private subnets of a VPC the stack creates, leaving through NAT gateways
 * with Elastic IPs (one per availability zone). `existing`: private subnets of your VPC, through its NAT.
 */
const networkSchema = z
  .discriminatedUnion(
    'mode',
    [
      z.object({ mode: z.literal('none') }).strict(),
      z
        .object({
          mode: z.literal('create'),
          /** How many zones (a private subnet and a NAT gateway with its Elastic IP each), or their names. 1 saves cost. */
          availabilityZones: z
            .union([z.number().int().min(1).max(3), z.array(availabilityZone).min(1).max(3)])
            .default(2)
            .refine((zones) => typeof zones === 'number' || new Set(zones).size === zones.length, 'must not name a zone twice'),
          /** The VPC's address range: /16 to /24 (the functions need a few addresses per zone). */
          cidr: z
            .string()
            .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(1[6-9]|2[0-4])$/, 'must be an IPv4 CIDR block from /16 to /24, e.g. 10.64.0.0/24')
            .default('10.64.0.0/24'),
          /** KMS and Secrets Manager interface endpoints (about $7.30 per endpoint and zone per month). */
          interfaceEndpoints: z.boolean().default(false),
        })
        .strict(),
      z
        .object({
          mode: z.literal('existing'),
          vpcId: awsId('vpc'),
          /** Private subnets whose default route leads to a NAT gateway (or another fixed egress). */
          subnets: z
            .array(
              z
                .object({ subnetId: awsId('subnet'), availabilityZone, routeTableId: awsId('rtb').optional() })
                .strict(),
            )
            .min(1)
            .max(16),
          /** The public addresses that traffic leaves from (the NAT gateways' Elastic IPs): the stack outputs them. */
          egressIps: z.array(publicIpv4).min(1).max(16),
          /** S3 and DynamoDB gateway endpoints on the subnets' route tables (needs routeTableId on each subnet). */
          gatewayEndpoints: z.boolean().default(false),
          interfaceEndpoints: z.boolean().default(false),
        })
        .strict()
        .superRefine((network, ctx) => {
          const ids = network.subnets.map((subnet) => subnet.subnetId);
          if (new Set(ids).size !== ids.length) {
            ctx.addIssue({ code: 'custom', path: ['subnets'], message: 'must not list a subnet twice' });
          }
          if (network.gatewayEndpoints) {
            network.subnets.forEach((subnet, index) => {
              if (!subnet.routeTableId) {
                ctx.addIssue({
                  code: 'custom',
                  path: ['subnets', index, 'routeTableId'],
                  message: 'is required when gatewayEndpoints is on (the endpoints are routes in that table)',
                });
              }
            });
          }
        }),
    ],
    { error: (issue) => (issue.code === 'invalid_union' ? 'must be none, create or existing' : undefined) },
  )
  .default({ mode: 'none' });

export const auditExportConfigSchema = z
  .object({
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must start with a letter and hold only letters, digits and hyphens')
      .default('AuditExport'),
    /** Where to deploy; by default the account and region of the CLI's credentials. */
    env: z.object({ account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id').optional(), region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1').optional() }).strict().default({}),
    bucket: z
      .object({
        /** A fixed name; by default CloudFormation generates one. */
        name: bucketName.optional(),
        /** Key prefix under which every export lands (before `source=.../`). */
        exportPrefix: z
          .string()
          .regex(/^([A-Za-z0-9._-]+\/)*$/, 'must be empty or folder names each ending in "/" (e.g. audit/)')
          .default(''),
        transitionToInfrequentAccessAfterDays: z.number().int().min(30).default(30),
        transitionToGlacierAfterDays: z.number().int().positive().optional(),
        /** Delete exports this many days after they were written; absent = keep forever. */
        expireAfterDays: z.number().int().positive().optional(),
        noncurrentVersionExpirationDays: positiveInt(3650).default(30),
        accessLogsExpireAfterDays: positiveInt(3650).default(365),
        /** `retain` keeps the buckets, table and secrets when the stack is deleted. */
        removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
      })
      .strict()
      .default({
        exportPrefix: '',
        transitionToInfrequentAccessAfterDays: 30,
        noncurrentVersionExpirationDays: 30,
        accessLogsExpireAfterDays: 365,
        removalPolicy: 'retain',
      }),
    alarms: z
      .object({
        email: z.email('must be an e-mail address').optional(),
        /** Alarm when a source's checkpoint is older than this. */
        checkpointLagSeconds: positiveInt(30 * 86_400).default(6 * 3600),
      })
      .strict()
      .default({ checkpointLagSeconds: 6 * 3600 }),
    logRetentionDays: logRetentionDays.default(365),
    consumers: z
      .object({
        /**
         * Deploy the example consumer (functions/consumer/verify-manifest.ts): every window's manifest, when written,
         * triggers a check of the objects it lists; a mismatch is a Lambda error and alarms.
         */
        verifyManifests: z.boolean().default(true),
      })
      .strict()
      .default({ verifyManifests: true }),
    /**
     * The scheduled verifier (functions/verifier/handler.ts): daily, the previous `days` of every stream checked
     * (manifests, objects, sizes, SHA-256 once per window, counts), `UnverifiedWindows` alarmed; Xray windows whose
     * vendor count grew since their export are re-exported.
     */
    verifier: z
      .object({
        enabled: z.boolean().default(true),
        days: positiveInt(366).default(7),
        schedule: scheduleExpression('cron(30 3 * * ? *)').default('cron(30 3 * * ? *)'),
      })
      .strict()
      .default({ enabled: true, days: 7, schedule: 'cron(30 3 * * ? *)' }),
    ocsf: ocsfSchema.default(ocsfSchema.parse({})),
    sources: z
      .object({
        mft: instancesOf('mft', mftSchema).prefault({}),
        xray: instancesOf('xray', xraySchema).prefault({}),
      })
      .strict()
      .prefault({}),
    network: networkSchema,
  })
  .strict()
  .superRefine((config, ctx) => {
    const { mft: mftInstances, xray: xrayInstances } = config.sources;
    // A source that failed its own schema is not a list yet (its problems are reported already).
    if (!Array.isArray(mftInstances) || !Array.isArray(xrayInstances)) return;
    if (!mftInstances.length && !xrayInstances.length) {
      ctx.addIssue({ code: 'custom', path: ['sources'], message: 'must enable at least one source (mft or xray)' });
    }
    for (const xray of xrayInstances) {
      if (!xray.baseUrl) {
        ctx.addIssue({
          code: 'custom',
          path: [...xray.at, 'baseUrl'],
          message: 'is required when the xray source is enabled (e.g. https://acme.jfrog.io)',
        });
      }
      if (xray.groupHours * 60 < xray.windowMinutes) {
        ctx.addIssue({
          code: 'custom',
          path: [...xray.at, 'groupHours'],
          message: `must hold at least one window (windowMinutes ${xray.windowMinutes})`,
        });
      }
    }
    for (const source of [...mftInstances, ...xrayInstances]) {
      // A scheduled run exports at most maxWindowsPerRun windows: less than one schedule period's worth and
      // the stream falls further behind with every run.
      const period = ratePeriodSeconds(source.schedule);
      const perRun = source.maxWindowsPerRun * source.windowMinutes * 60;
      if (period !== undefined && perRun < period) {
        ctx.addIssue({
          code: 'custom',
          path: [...source.at, 'maxWindowsPerRun'],
          message: `(${source.maxWindowsPerRun} windows of ${source.windowMinutes} min) covers less than the schedule's period ${source.schedule}: the export would fall behind`,
        });
      }
    }
    for (const mft of mftInstances) {
      for (const { field, message } of mftRunProblems(mft)) ctx.addIssue({ code: 'custom', path: [...mft.at, field], message });
    }
    for (const xray of xrayInstances) {
      if (xrayGroupsPerRun(xray) > XRAY_MAX_GROUPS_PER_RUN) {
        ctx.addIssue({
          code: 'custom',
          path: [...xray.at, 'groupHours'],
          message:
            `makes a run of ${xray.maxWindowsPerRun} windows (plus the overlap) ${xrayGroupsPerRun(xray)} groups; at most ${XRAY_MAX_GROUPS_PER_RUN} fit ` +
            `the execution state (each group's result stays in it until CommitRun): raise groupHours or lower maxWindowsPerRun`,
        });
      }
    }
    if (config.ocsf.enabled && config.ocsf.target === 'security-lake' && !config.ocsf.securityLake) {
      ctx.addIssue({ code: 'custom', path: ['ocsf', 'securityLake'], message: 'is required with target security-lake (e.g. {"externalId": "<a secret-less id you choose>"})' });
    }
    for (const problem of derivedNameProblems(config.stackName)) {
      ctx.addIssue({ code: 'custom', path: ['stackName'], message: problem });
    }
    for (const problem of instanceProblems(config.stackName, mftInstances, xrayInstances)) ctx.addIssue({ code: 'custom', ...problem });
    const { transitionToInfrequentAccessAfterDays: ia, transitionToGlacierAfterDays: glacier, expireAfterDays } =
      config.bucket;
    // S3 refuses a lifecycle rule that moves objects on from Standard-IA less than 30 days after moving them there.
    if (glacier !== undefined && glacier < ia + MIN_DAYS_IN_INFREQUENT_ACCESS) {
      ctx.addIssue({
        code: 'custom',
        path: ['bucket', 'transitionToGlacierAfterDays'],
        message:
          `must be at least ${MIN_DAYS_IN_INFREQUENT_ACCESS} days after transitionToInfrequentAccessAfterDays (${ia}), ` +
          `i.e. ${ia + MIN_DAYS_IN_INFREQUENT_ACCESS} or more: S3 rejects a shorter stay in Standard-IA`,
      });
    }
    if (expireAfterDays !== undefined && expireAfterDays <= Math.max(ia, glacier ?? 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['bucket', 'expireAfterDays'],
        message: 'must be later than the storage-class transitions',
      });
    }
  })
  .superRefine(networkMatchesRegion);

/**
 * Names the stack derives from `stackName`, with the limits AWS sets on them. Each keeps DERIVED_NAME_ROOM
 * characters free for the `-<name>` of further instances (a second deployment of a source, a verifier) that
 * later changes derive the same way, so a stack name accepted today stays valid then.
 */
export const DERIVED_NAME_ROOM = 17;
/** The longest construct id of a Lambda in the function tables (`XrayExportPages`, `MftHousekeeping`…); test-checked. */
export const LONGEST_FUNCTION_ID = 17;
export const DERIVED_NAMES = [
  { what: 'state machine name', limit: 80, example: (stackName: string, instance?: string) => stateMachineName(stackName, 'xray', instance) },
  {
    what: 'function name',
    limit: 64,
    example: (stackName: string, instance?: string) => `${stackName}-${instance === undefined ? '' : `${instance}-`}${'F'.repeat(LONGEST_FUNCTION_ID)}`,
  },
] as const;

/**
 * Why `stackName` cannot be deployed: for each derived name, the problem when it (plus the room kept for later
 * instances) would pass its AWS limit. Empty when the name fits.
 */
export function derivedNameProblems(stackName: string): string[] {
  const problems: string[] = [];
  for (const name of DERIVED_NAMES) {
    const length = name.example(stackName).length + DERIVED_NAME_ROOM;
    if (length > name.limit) {
      const longest = stackName.length - (length - name.limit);
      problems.push(
        `is ${stackName.length} characters long: a ${name.what} derived from it (e.g. ${name.example(stackName)}, with room for ` +
          `${DERIVED_NAME_ROOM} more) would pass AWS's limit of ${name.limit}; use at most ${longest} characters`,
      );
    }
  }
  return problems;
}

export { MFT_WINDOW_CONCURRENCY };
/** Step Functions' limit on the events of one execution's history. */
export const HISTORY_EVENT_LIMIT = 25_000;

/**
 * History events of the largest MFT run these settings allow, counted as Step Functions records them: about
 * 40 for the run itself, 30 per window (its Map iteration and Tasks, one poll), and 9 per further poll, of which
 * there are at most `concurrency × (timeout − copy reserve) / pollInterval` (windows start no later than the
 * copy reserve before the timeout).
 */
export function mftHistoryEventsAtMost(settings: { maxWindowsPerRun: number; pollIntervalSeconds: number }): number {
  const pollingSeconds = (MFT_EXECUTION_TIMEOUT_MS - WINDOW_COPY_RESERVE_MS) / 1000;
  const polls = MFT_WINDOW_CONCURRENCY * Math.ceil(pollingSeconds / settings.pollIntervalSeconds);
  return 40 + 30 * settings.maxWindowsPerRun + 9 * polls;
}

/** MFT settings with which an execution would break a Step Functions limit. */
function mftRunProblems(mft: { maxWindowsPerRun: number; pollIntervalSeconds: number; maxWaitSeconds: number }): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const events = mftHistoryEventsAtMost(mft);
  if (events > HISTORY_EVENT_LIMIT) {
    problems.push({
      field: 'maxWindowsPerRun',
      message:
        `(${mft.maxWindowsPerRun} windows, polled every ${mft.pollIntervalSeconds} s) could make an execution record ${events} history events, ` +
        `more than Step Functions' ${HISTORY_EVENT_LIMIT}: export fewer windows per run or poll less often`,
    });
  }
  // The last window started must still be able to wait for its report and copy it before the execution timeout.
  const longestWait = (MFT_EXECUTION_TIMEOUT_MS - WINDOW_COPY_RESERVE_MS - MIN_WINDOW_START_BUDGET_MS) / 1000 - mft.pollIntervalSeconds;
  if (mft.maxWaitSeconds > longestWait) {
    problems.push({
      field: 'maxWaitSeconds',
      message: `must be at most ${longestWait} s: a report waited for longer could not be copied within the state machine's ${MFT_EXECUTION_TIMEOUT_MS / 3_600_000}-hour execution timeout`,
    });
  }
  return problems;
}

/**
 * Xray groups (Map items) per run the execution state holds within 256 KiB with room to spare, even when
 * every group fails with a long error (measured on the strict engine: test/e2e/xray-state-bounds.test.ts).
 */
export const XRAY_MAX_GROUPS_PER_RUN = 64;

/** The groups of the largest Xray run: its windows and the re-scanned overlap, `groupHours` to a group. */
export function xrayGroupsPerRun(xray: { maxWindowsPerRun: number; windowMinutes: number; groupHours: number; overlapHours: number }): number {
  const perGroup = Math.max(1, Math.floor((xray.groupHours * 60) / xray.windowMinutes));
  const overlap = Math.ceil((xray.overlapHours * 60) / xray.windowMinutes);
  return Math.ceil((xray.maxWindowsPerRun + overlap) / perGroup);
}

/** S3: objects stay in Standard-IA at least this long before a lifecycle rule may move them on. */
export const MIN_DAYS_IN_INFREQUENT_ACCESS = 30;

export type AuditExportConfig = z.output<typeof auditExportConfigSchema>;
export type NetworkConfig = AuditExportConfig['network'];
export type AuditExportConfigInput = z.input<typeof auditExportConfigSchema>;

export class AuditExportConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditExportConfigError';
  }
}

/** Zone names must belong to the region the stack is pinned to (a mismatch would fail late, at deploy). */
function networkMatchesRegion(config: { env: { region?: string | undefined }; network: z.output<typeof networkSchema> }, ctx: z.RefinementCtx): void {
  const { region } = config.env;
  const { network } = config;
  if (!region) return;
  const zones: [string, (string | number)[]][] =
    network.mode === 'create' && Array.isArray(network.availabilityZones)
      ? network.availabilityZones.map((zone, index) => [zone, ['network', 'availabilityZones', index]])
      : network.mode === 'existing'
        ? network.subnets.map((subnet, index) => [subnet.availabilityZone, ['network', 'subnets', index, 'availabilityZone']])
        : [];
  for (const [zone, path] of zones) {
    if (!new RegExp(`^${region}[a-z]$`).test(zone)) {
      ctx.addIssue({ code: 'custom', path, message: `${zone} is not a zone of env.region ${region}` });
    }
  }
}

function ratePeriodSeconds(expression: string): number | undefined {
  const match = /^rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)$/.exec(expression);
  if (!match) return undefined;
  const unit = { minute: 60, hour: 3600, day: 86_400 }[match[2] as 'minute' | 'hour' | 'day'];
  return Number(match[1]) * unit;
}

export type MftInstanceConfig = AuditExportConfig['sources']['mft'][number];
export type XrayInstanceConfig = AuditExportConfig['sources']['xray'][number];

/** The state machine of a source: `<stackName>-<source>-export`, or `<stackName>-<source>-<instance>-export` for a listed instance. */
export function stateMachineName(stackName: string, source: string, instance?: string): string {
  return instance === undefined ? `${stackName}-${source}-export` : `${stackName}-${source}-${instance}-export`;
}

/** The name a listed instance puts into resource names and metrics; undefined for the single-object form. */
export function listedName(instance: Pick<SourceInstance<object>, 'name' | 'listed'>): string | undefined {
  return instance.listed ? instance.name : undefined;
}

/** The stream a scheduled run of an instance exports (functions/common/checkpoints.ts `streamKey`). */
export function instanceStream(source: 'mft', instance: Pick<MftInstanceConfig, 'tenantId' | 'filters' | 'type'>): string | undefined;
export function instanceStream(source: 'xray', instance: Pick<XrayInstanceConfig, 'baseUrl' | 'tenant' | 'format'>): string | undefined;
export function instanceStream(source: 'mft' | 'xray', instance: Record<string, any>): string | undefined {
  if (source === 'mft') {
    return instance.tenantId === undefined ? undefined : streamKey({ source, tenant: instance.tenantId, filtersId: filtersId(instance.filters), format: instance.type });
  }
  const tenant = instance.tenant ?? (instance.baseUrl ? new URL(instance.baseUrl).hostname : undefined);
  return tenant === undefined ? undefined : streamKey({ source, tenant, filtersId: 'all', format: instance.format });
}

/**
 * What makes a set of instances undeployable: a generated name past its AWS limit, two instances exporting one
 * stream (they would write the same objects and fight over one checkpoint), an MFT instance whose stream is
 * unknown at synth (no tenantId), and MFT instances of one tenant that wait differently (each one's housekeeping
 * deletes reports of the tenant older than its own wait allows).
 */
function instanceProblems(stackName: string, mft: MftInstanceConfig[], xray: XrayInstanceConfig[]): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  for (const [source, instances] of [['mft', mft], ['xray', xray]] as const) {
    const streams = new Map<string, string>();
    for (const instance of instances) {
      if (instance.listed) {
        // The same names the stack name is checked by, with this instance's name in them.
        const names = DERIVED_NAMES.map(({ what, limit, example }) => ({
          what,
          limit,
          name: what === 'state machine name' ? stateMachineName(stackName, source, instance.name) : example(stackName, instance.name),
        }));
        for (const { what, limit, name } of names) {
          if (name.length > limit) {
            problems.push({ path: [...instance.at, 'name'], message: `makes the ${what} ${name} ${name.length} characters long, more than AWS's ${limit}: use a shorter instance name or stackName` });
          }
        }
      }
      if (source === 'mft' && instances.length > 1 && (instance as MftInstanceConfig).tenantId === undefined) {
        problems.push({ path: [...instance.at, 'tenantId'], message: 'is required when sources.mft lists several instances: it tells their streams (object keys, checkpoints) apart at synth' });
        continue;
      }
      const stream = source === 'mft' ? instanceStream('mft', instance as MftInstanceConfig) : instanceStream('xray', instance as XrayInstanceConfig);
      if (stream === undefined) continue;
      const other = streams.get(stream);
      if (other !== undefined) {
        problems.push({
          path: [...instance.at, 'name'],
          message:
            `"${instance.name}" exports the same stream as "${other}" (${stream}: source, tenant, filters and format): they would write the same ` +
            `objects and share one checkpoint; give them different ${source === 'mft' ? 'tenantId, filters or type' : 'tenant, baseUrl or format'}, or keep one`,
        });
      }
      streams.set(stream, instance.name);
    }
  }
  const waits = new Map<string, MftInstanceConfig>();
  for (const instance of mft) {
    if (instance.tenantId === undefined) continue;
    const first = waits.get(instance.tenantId);
    if (first && first.maxWaitSeconds !== instance.maxWaitSeconds) {
      problems.push({
        path: [...instance.at, 'maxWaitSeconds'],
        message:
          `must equal that of "${first.name}" (${first.maxWaitSeconds}), which exports the same tenant ${instance.tenantId}: each instance's housekeeping ` +
          'deletes the reports of its tenant it finds older than its own wait allows, so a shorter wait would delete the other\'s reports in flight',
      });
    }
    if (!first) waits.set(instance.tenantId, instance);
  }
  return problems;
}


function describe(issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.join('.') : '(the configuration)';
  if (issue.code === 'invalid_union' && issue.errors.length === 2 && issue.path[0] === 'sources') {
    // A source is one object or a list of instances: report the problems of the form that was given.
    const given = issue.errors.filter((errors) => !errors.some((inner) => inner.code === 'invalid_type' && inner.path.length === 0));
    if (given.length !== 1) return `${path} must be an object (one instance) or a list of instances, each with a name`;
    return given[0]!.map((inner) => describe({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue)).join('; ');
  }
  if (issue.code === 'unrecognized_keys') return `${path} has unknown field(s) ${issue.keys.join(', ')}`;
  if (issue.code === 'too_small' && typeof issue.minimum !== 'object' && !issue.message.startsWith('must ')) {
    return `${path} must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}`;
  }
  if (issue.code === 'too_big' && typeof issue.maximum !== 'object') {
    return `${path} must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}`;
  }
  if (issue.code === 'invalid_type') {
    if (issue.message.startsWith('is required')) return `${path} ${issue.message}`;
    return /received undefined/.test(issue.message) ? `${path} is required` : `${path} must be ${article(issue.expected)}`;
  }
  return `${path} ${issue.message}`;
}

function article(type: string): string {
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

/** Validates a configuration object; throws one readable error naming every problem. */
export function parseConfig(value: unknown): AuditExportConfig {
  const result = auditExportConfigSchema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new AuditExportConfigError(
    `Invalid audit-export configuration: ${result.error.issues.map(describe).join('; ')}`,
  );
}

/** The context keys read by the app: `audit-export` (an object) and `config` (a JSON file path). */
export const CONFIG_CONTEXT_KEY = 'audit-export';
export const CONFIG_FILE_CONTEXT_KEY = 'config';

/**
 * Loads the configuration: from the file named by `-c config=...` if given, else from the `audit-export`
 * context (cdk.json). A context value given on the command line arrives as a string and is parsed as JSON.
 */
export function loadConfig(tryGetContext: (key: string) => unknown, cwd = process.cwd()): AuditExportConfig {
  const file = tryGetContext(CONFIG_FILE_CONTEXT_KEY);
  if (typeof file === 'string' && file) {
    const path = resolve(cwd, file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      throw new AuditExportConfigError(`Invalid audit-export configuration: cannot read the config file ${path}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new AuditExportConfigError(
        `Invalid audit-export configuration: ${path} is not valid JSON (${(error as Error).message})`,
      );
    }
    return parseConfig(parsed);
  }
  let value = tryGetContext(CONFIG_CONTEXT_KEY);
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new AuditExportConfigError(`Invalid audit-export configuration: context ${CONFIG_CONTEXT_KEY} is not valid JSON`);
    }
  }
  return parseConfig(value);
}
