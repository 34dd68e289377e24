import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  FAULT_SPEC_GRAMMAR,
  FaultSpecError,
  parseFaultSpec,
  parseRandomFaultKinds,
  xrayRandomKinds,
  type ParsedFaultSpec,
} from '../../emulators/common/fault-spec.js';
import { describeFault, type FaultController, type InjectedFault, type RandomFaultKind } from '../../emulators/common/faults.js';
import {
  CREATE_ANSWERS,
  CREATE_BODY_RULES,
  LIST_FIELDS,
  LIST_SHAPES,
  MFT_KEY_TYPES,
  SIZE_FIELDS,
  STORAGE_ENCODINGS,
  startMftEmulator,
  type MftEmulator,
  type MftEmulatorOptions,
} from '../../emulators/mft/index.js';
import { DRY_RUN_CSV_PAGINGS, LAST_PAGE_NEXT_OFFSETS, startXrayEmulator, type XrayEmulator, type XrayEmulatorOptions } from '../../emulators/xray/index.js';
import { EXIT_OK, UsageError, parseCommandArgs, parseInteger } from '../usage.js';

export const EMULATE_HELP = `Usage: audit-export emulate [options]

Starts both vendor emulators in the foreground and prints one JSON line on stdout with their
endpoints and credentials; stops cleanly on Ctrl-C (SIGINT) or SIGTERM.

Options:
  --mft-port N         MFT API port (default 0: any free port)
  --xray-port N        Xray platform port (default 0: any free port)
  --events N           Xray events in the dataset (default 10000; 1000000 works)
  --seed N             dataset seed (default 1): the same seed gives the same events
  --mft-events-per-hour N   density of the MFT audit timeline (default 600)
  --report-ready-ms N  how long an MFT report stays InProgress (default 1500)
  --key-file PATH      where to write the MFT private key (mode 0600; default a new temp dir)
  --instances N        MFT tenants and Xray platforms to serve, 1-4 (default 2): the first is the one the
                       ports, the key file and the faults apply to; each further one has its own tenant id,
                       key, platform and dataset (seed + its position), listed under "instances"
  -h, --help           this help

How the emulated vendors answer where their documents are silent (the defaults are the documented
behaviour, which the vendors' own examples rely on; the others are answers a client must tolerate):
  --mft-key-type T          the generated API key: ES256 (PKCS#8 PEM, default), ES256-SEC1, RS256, EdDSA
  --mft-create-body R       lenient (default): any documented form; reference: only the reference
                            script's shape (all nine keys, numeric type, whole-second UTC instants), else 400
  --mft-create-answer A     report (default) or id-only: the create answer is { "id": … } alone
  --mft-status-format F     string (default), number or mixed
  --mft-pending-statuses L  comma-separated status words a report shows while generated (default InProgress),
                            e.g. Queued,Running
  --mft-failed-status W     the status word of a failed report (default Failed)
  --mft-size S              what size holds: bytes (default), kilobytes, records, omit
  --mft-storage-encoding E  the storage sends every file encoded: none (default), gzip, deflate, br
  --mft-list-shape S        items (default), array, or pages: link-header, next-link, page-token, page-number
  --mft-list-page-size N    reports per page of a paged list (default 50)
  --mft-list-fields F       full (default) or minimal (each item only id and status)
  --xray-last-page-next-offset S  null (default), zero, omit (the key left out), vary
  --xray-csv-max-rows N     largest CSV num_of_rows (default 500000; 2000 is an older Xray)
  --xray-max-window-hours N refuse wider ranges with 400 (default: no limit)
  --xray-dry-run-policies N dry-run policies per dry-run event, 1-3 (default 1)
  --xray-dry-run-shared-ids dry-run events carry their request's id (one request's events share it)
  --xray-dry-run-csv-paging P  what offset/num_of_rows count in a dry-run CSV page: events (default), rows

Fault injection (each injected fault is written as one line on stderr):
  --faults SPEC        fixed faults, comma-separated (grammar below)
  --chaos-seed N       a seeded random schedule on both emulators: same seed + same requests = same faults
  --chaos-rate P       probability of a fault per request, 0..1 (default 0.05 with --chaos-seed)
  --chaos-kinds LIST   kinds to draw from (default status,reset,truncate); also delay, hang,
                       report-failed, report-never-completes, expire-tokens (the last three MFT only)
  --chaos-delay-ms N   how slow a drawn delay is (default 31000: beyond the exporter's 30 s timeout)

  SPEC = ${FAULT_SPEC_GRAMMAR.replace(/\n/g, '\n         ')}

Examples:
  audit-export emulate --mft-port 8443 --events 200000 --seed 7
  # {"mft":{"baseUrl":"http://127.0.0.1:8443","tenantId":"…","kid":"…","privateKeyFile":"/tmp/…/mft-private-key.pem"},"xray":{…}}
  audit-export emulate --faults 'api:503x3,storage:truncate@1000x1,xray:429/2x5,xray:reset~0.02'
  #   the first 3 MFT report calls get 503, the first download is cut after 1000 bytes,
  #   the first 5 Xray requests get 429 with Retry-After: 2, and 2 % of the others are reset
  audit-export emulate --faults 'xray:503#2,api:failedx1,api:expire-tokens+6x1,token:502.html'
  #   every Xray page fails on its first retry only; the first report ends Failed; all tokens expire
  #   at the 7th API call; every token request gets an HTML 502 page
  audit-export emulate --chaos-seed 42 --chaos-rate 0.05 --chaos-kinds status,reset,truncate,report-failed`;

const OPTIONS = {
  'mft-port': { type: 'string' },
  'xray-port': { type: 'string' },
  events: { type: 'string' },
  seed: { type: 'string' },
  'mft-events-per-hour': { type: 'string' },
  'report-ready-ms': { type: 'string' },
  'key-file': { type: 'string' },
  instances: { type: 'string' },
  faults: { type: 'string' },
  'chaos-seed': { type: 'string' },
  'chaos-rate': { type: 'string' },
  'chaos-kinds': { type: 'string' },
  'chaos-delay-ms': { type: 'string' },
  'mft-key-type': { type: 'string' },
  'mft-create-body': { type: 'string' },
  'mft-create-answer': { type: 'string' },
  'mft-status-format': { type: 'string' },
  'mft-pending-statuses': { type: 'string' },
  'mft-failed-status': { type: 'string' },
  'mft-size': { type: 'string' },
  'mft-storage-encoding': { type: 'string' },
  'mft-list-shape': { type: 'string' },
  'mft-list-page-size': { type: 'string' },
  'mft-list-fields': { type: 'string' },
  'xray-last-page-next-offset': { type: 'string' },
  'xray-csv-max-rows': { type: 'string' },
  'xray-max-window-hours': { type: 'string' },
  'xray-dry-run-policies': { type: 'string' },
  'xray-dry-run-shared-ids': { type: 'boolean' },
  'xray-dry-run-csv-paging': { type: 'string' },
} as const;

function choice<T extends string>(value: string | undefined, name: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  return value as T;
}

/** A status word: letters, digits, _ and - (it is JSON, and a person types it). */
function statusWord(value: string, name: string): string {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(value)) throw new UsageError(`--${name}: ${JSON.stringify(value)} is not a status word (letters, digits, _ and -)`);
  return value;
}

type Values = Record<string, string | boolean | undefined>;

/** The vendor-behaviour flags, read (and refused) before anything starts. */
function behaviourOptions(values: Values): { mft: MftEmulatorOptions; xray: XrayEmulatorOptions } {
  const string = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const mft: MftEmulatorOptions = {};
  const xray: XrayEmulatorOptions = {};
  const set = <O extends object, K extends keyof O>(target: O, key: K, value: O[K] | undefined) => {
    if (value !== undefined) target[key] = value;
  };
  set(mft, 'keyType', choice(string('mft-key-type'), 'mft-key-type', MFT_KEY_TYPES));
  set(mft, 'createBody', choice(string('mft-create-body'), 'mft-create-body', CREATE_BODY_RULES));
  set(mft, 'createAnswer', choice(string('mft-create-answer'), 'mft-create-answer', CREATE_ANSWERS));
  set(mft, 'statusFormat', choice(string('mft-status-format'), 'mft-status-format', ['string', 'number', 'mixed'] as const));
  set(mft, 'pendingStatuses', string('mft-pending-statuses')?.split(',').map((word) => statusWord(word.trim(), 'mft-pending-statuses')));
  set(mft, 'failedStatus', string('mft-failed-status') === undefined ? undefined : statusWord(string('mft-failed-status')!, 'mft-failed-status'));
  set(mft, 'sizeField', choice(string('mft-size'), 'mft-size', SIZE_FIELDS));
  set(mft, 'storageEncoding', choice(string('mft-storage-encoding'), 'mft-storage-encoding', STORAGE_ENCODINGS));
  set(mft, 'listShape', choice(string('mft-list-shape'), 'mft-list-shape', LIST_SHAPES));
  set(mft, 'listPageSize', parseInteger(string('mft-list-page-size'), '--mft-list-page-size', 1, 1000));
  set(mft, 'listFields', choice(string('mft-list-fields'), 'mft-list-fields', LIST_FIELDS));
  set(xray, 'lastPageNextOffset', choice(string('xray-last-page-next-offset'), 'xray-last-page-next-offset', LAST_PAGE_NEXT_OFFSETS));
  set(xray, 'csvMaxRows', parseInteger(string('xray-csv-max-rows'), '--xray-csv-max-rows', 1, 500_000));
  set(xray, 'maxWindowHours', parseInteger(string('xray-max-window-hours'), '--xray-max-window-hours', 1, 8784));
  set(xray, 'dryRunPoliciesPerEvent', parseInteger(string('xray-dry-run-policies'), '--xray-dry-run-policies', 1, 3));
  if (values['xray-dry-run-shared-ids']) xray.dryRunSharedIds = true;
  set(xray, 'dryRunCsvPaging', choice(string('xray-dry-run-csv-paging'), 'xray-dry-run-csv-paging', DRY_RUN_CSV_PAGINGS));
  return { mft, xray };
}

interface ChaosSettings {
  seed: number;
  rate: number;
  kinds: RandomFaultKind[];
  delayMs: number;
}

/** Reads --faults and the --chaos-* flags before anything starts; a mistake is a UsageError. */
function faultSettings(values: Record<string, string | boolean | undefined>): { fixed: ParsedFaultSpec; chaos?: ChaosSettings } {
  const string = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const chaosSeed = parseInteger(string('chaos-seed'), '--chaos-seed', 0, 2 ** 31 - 1);
  const chaosOn = chaosSeed !== undefined || ['chaos-rate', 'chaos-kinds', 'chaos-delay-ms'].some((name) => string(name) !== undefined);
  const hint = 'see `audit-export emulate --help`';
  try {
    const fixed = string('faults') === undefined ? { mft: [], xray: [] } : parseFaultSpec(string('faults')!, chaosSeed ?? 1);
    if (!chaosOn) return { fixed };
    const rateText = string('chaos-rate');
    if (rateText !== undefined && !/^(?:0|1|0?\.\d+|0\.|1\.0*)$/.test(rateText)) {
      throw new UsageError(`--chaos-rate must be a probability from 0 to 1 (got ${JSON.stringify(rateText)})`, hint);
    }
    return {
      fixed,
      chaos: {
        seed: chaosSeed ?? 1,
        rate: rateText === undefined ? 0.05 : Number(rateText),
        kinds: string('chaos-kinds') === undefined ? ['status', 'reset', 'truncate'] : parseRandomFaultKinds(string('chaos-kinds')!),
        delayMs: parseInteger(string('chaos-delay-ms'), '--chaos-delay-ms', 0, 3_600_000) ?? 31_000,
      },
    };
  } catch (error) {
    if (error instanceof FaultSpecError) throw new UsageError(error.message, hint);
    throw error;
  }
}

/** Installs the seeded schedule and reports every injected fault on stderr (stdout is the JSON line). */
function enableFaults(name: 'mft' | 'xray', faults: FaultController, chaos: ChaosSettings | undefined): void {
  if (chaos) {
    const kinds = name === 'xray' ? xrayRandomKinds(chaos.kinds) : chaos.kinds;
    if (kinds.length > 0) faults.randomize({ seed: chaos.seed, rate: chaos.rate, kinds, delayMs: chaos.delayMs });
  }
  faults.onInjected((fault: InjectedFault) => {
    const offset = fault.offset === undefined ? '' : ` offset=${fault.offset}`;
    process.stderr.write(`[fault] ${name} ${fault.server} ${fault.method} ${fault.path}${offset} attempt ${fault.attempt}: ${describeFault(fault.fault)}\n`);
  });
}

export async function emulateCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, OPTIONS, 'emulate');
  if (values.help) {
    process.stdout.write(`${EMULATE_HELP}\n`);
    return EXIT_OK;
  }
  // Every option is read before anything starts: a bad one is a usage error with nothing left running.
  const seed = parseInteger(values.seed, '--seed', 0, 2 ** 31 - 1) ?? 1;
  const mftPort = parseInteger(values['mft-port'], '--mft-port', 0, 65_535) ?? 0;
  const xrayPort = parseInteger(values['xray-port'], '--xray-port', 0, 65_535) ?? 0;
  const eventsPerHour = parseInteger(values['mft-events-per-hour'], '--mft-events-per-hour', 1, 100_000_000);
  const reportReadyAfterMs = parseInteger(values['report-ready-ms'], '--report-ready-ms', 0, 86_400_000);
  const events = parseInteger(values.events, '--events', 0, 50_000_000) ?? 10_000;
  const instanceCount = parseInteger(values.instances, '--instances', 1, 4) ?? 2;
  const { fixed, chaos } = faultSettings(values);
  const behaviour = behaviourOptions(values);
  if (mftPort !== 0 && mftPort === xrayPort) throw new UsageError(`--mft-port and --xray-port must differ (both ${mftPort})`);
  if (values['key-file'] !== undefined) {
    const directory = path.dirname(path.resolve(values['key-file']));
    const exists = await stat(directory).then((info) => info.isDirectory(), () => false);
    if (!exists) throw new UsageError(`--key-file: the directory ${directory} does not exist`);
  }
  const mft = await startMftEmulator({ ...behaviour.mft, faults: fixed.mft, port: mftPort, seed, eventsPerHour, reportReadyAfterMs });
  const xray = await startXrayEmulator({ ...behaviour.xray, port: xrayPort, seed, events, faults: fixed.xray }).catch(async (error: unknown) => {
    await mft.close();
    throw error;
  });
  enableFaults('mft', mft.faults, chaos);
  enableFaults('xray', xray.faults, chaos);
  const keyFile =
    values['key-file'] ?? path.join(await mkdtemp(path.join(os.tmpdir(), 'audit-export-emulate-')), 'mft-private-key.pem');
  await writeFile(keyFile, mft.privateKeyPem, { mode: 0o600 }).catch(async (error: unknown) => {
    await Promise.all([mft.close(), xray.close()]);
    throw new UsageError(`--key-file: cannot write ${keyFile} (${(error as Error).message})`);
  });

  // Further instances: another MFT tenant and another JFrog platform each, as a deployment with several has.
  const further: { mft: MftEmulator; xray: XrayEmulator; keyFile: string }[] = [];
  const closeAll = () => Promise.all([mft.close(), xray.close(), ...further.flatMap((other) => [other.mft.close(), other.xray.close()])]);
  try {
    for (let index = 1; index < instanceCount; index++) {
      const otherMft = await startMftEmulator({ ...behaviour.mft, seed: seed + index, eventsPerHour, reportReadyAfterMs, tenantId: `emulated-tenant-${index + 1}` });
      const otherXray = await startXrayEmulator({ ...behaviour.xray, seed: seed + index, events }).catch(async (error: unknown) => {
        await otherMft.close();
        throw error;
      });
      const otherKeyFile = path.join(path.dirname(path.resolve(keyFile)), `mft-private-key-${index + 1}.pem`);
      further.push({ mft: otherMft, xray: otherXray, keyFile: otherKeyFile });
      await writeFile(otherKeyFile, otherMft.privateKeyPem, { mode: 0o600 });
    }
  } catch (error) {
    await closeAll();
    throw error;
  }
  const describeMft = (emulator: MftEmulator, file: string) => ({
    baseUrl: emulator.baseUrl,
    tenantId: emulator.tenantId,
    kid: emulator.kid,
    keyAlgorithm: emulator.keyAlgorithm,
    privateKeyFile: path.resolve(file),
  });
  const describeXray = (emulator: XrayEmulator) => ({
    baseUrl: emulator.baseUrl,
    username: emulator.admin.username,
    password: emulator.admin.password,
    accessToken: emulator.admin.accessToken,
  });
  writeLine({
    mft: describeMft(mft, keyFile),
    xray: describeXray(xray),
    instances: {
      mft: [describeMft(mft, keyFile), ...further.map((other) => describeMft(other.mft, other.keyFile))],
      xray: [describeXray(xray), ...further.map((other) => describeXray(other.xray))],
    },
  });

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await closeAll();
  return EXIT_OK;
}

/** The one JSON line on stdout that scripts read. */
function writeLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
