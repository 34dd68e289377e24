import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startMftEmulator } from '../../emulators/mft/index.js';
import { startXrayEmulator } from '../../emulators/xray/index.js';
import { EXIT_OK, createOutput, parseCommandArgs, parseInteger } from '../usage.js';

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

Example:
  audit-export emulate --mft-port 8443 --events 200000 --seed 7
  # {"mft":{"baseUrl":"http://127.0.0.1:8443","tenantId":"…","kid":"…","privateKeyFile":"/tmp/…/mft-private-key.pem"},"xray":{…}}`;

const OPTIONS = {
  'mft-port': { type: 'string' },
  'xray-port': { type: 'string' },
  events: { type: 'string' },
  seed: { type: 'string' },
  'mft-events-per-hour': { type: 'string' },
  'report-ready-ms': { type: 'string' },
  'key-file': { type: 'string' },
} as const;

export async function emulateCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, OPTIONS, 'emulate');
  if (values.help) {
    process.stdout.write(`${EMULATE_HELP}\n`);
    return EXIT_OK;
  }
  const seed = parseInteger(values.seed, '--seed', 0, 2 ** 31 - 1) ?? 1;
  const mft = await startMftEmulator({
    port: parseInteger(values['mft-port'], '--mft-port', 0, 65_535) ?? 0,
    seed,
    eventsPerHour: parseInteger(values['mft-events-per-hour'], '--mft-events-per-hour', 1, 100_000_000),
    reportReadyAfterMs: parseInteger(values['report-ready-ms'], '--report-ready-ms', 0, 86_400_000),
  });
  const xray = await startXrayEmulator({
    port: parseInteger(values['xray-port'], '--xray-port', 0, 65_535) ?? 0,
    seed,
    events: parseInteger(values.events, '--events', 0, 50_000_000) ?? 10_000,
  }).catch(async (error: unknown) => {
    await mft.close();
    throw error;
  });
  const keyFile =
    values['key-file'] ?? path.join(await mkdtemp(path.join(os.tmpdir(), 'audit-export-emulate-')), 'mft-private-key.pem');
  await writeFile(keyFile, mft.privateKeyPem, { mode: 0o600 });

  createOutput(false).result({
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
