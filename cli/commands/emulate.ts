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
import { startMftEmulator } from '../../emulators/mft/index.js';
import { startXrayEmulator } from '../../emulators/xray/index.js';
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
  -h, --help           this help

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
  faults: { type: 'string' },
  'chaos-seed': { type: 'string' },
  'chaos-rate': { type: 'string' },
  'chaos-kinds': { type: 'string' },
  'chaos-delay-ms': { type: 'string' },
} as const;

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
  const { fixed, chaos } = faultSettings(values);
  if (mftPort !== 0 && mftPort === xrayPort) throw new UsageError(`--mft-port and --xray-port must differ (both ${mftPort})`);
  if (values['key-file'] !== undefined) {
    const directory = path.dirname(path.resolve(values['key-file']));
    const exists = await stat(directory).then((info) => info.isDirectory(), () => false);
    if (!exists) throw new UsageError(`--key-file: the directory ${directory} does not exist`);
  }
  const mft = await startMftEmulator({ faults: fixed.mft, port: mftPort, seed, eventsPerHour, reportReadyAfterMs });
  const xray = await startXrayEmulator({ port: xrayPort, seed, events, faults: fixed.xray }).catch(async (error: unknown) => {
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

  writeLine({
    mft: { baseUrl: mft.baseUrl, tenantId: mft.tenantId, kid: mft.kid, privateKeyFile: path.resolve(keyFile) },
    xray: {
      baseUrl: xray.baseUrl,
      username: xray.admin.username,
      password: xray.admin.password,
      accessToken: xray.admin.accessToken,
    },
  });

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await Promise.all([mft.close(), xray.close()]);
  return EXIT_OK;
}

/** The one JSON line on stdout that scripts read. */
function writeLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
