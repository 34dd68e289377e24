import { ConfigError, InvalidInputError } from '../functions/common/errors.js';
import { scrub, scrubbedMessage } from '../functions/common/scrubber.js';
import { BACKFILL_HELP, backfillCommand } from './commands/backfill.js';
import { DEMO_HELP, demoCommand } from './commands/demo.js';
import { EMULATE_HELP, emulateCommand } from './commands/emulate.js';
import { REPORTS_HELP, reportsCommand } from './commands/reports.js';
import { RUN_MFT_HELP, runMftCommand } from './commands/run-mft.js';
import { RUN_XRAY_HELP, runXrayCommand } from './commands/run-xray.js';
import { STATUS_HELP, statusCommand } from './commands/status.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from './usage.js';

export const MAIN_HELP = `Usage: audit-export <command> [options]

Keeps SaaS security audit logs flowing into your S3 bucket (Progress Automate MFT, JFrog Xray Curation).

Commands:
  demo                 the main job on the local twin (what \`npm start\` runs)
  run mft              export one window of MFT audit logs
  run xray             export a range of Xray curation audit events
  backfill <source>    export a past range as idempotent manual executions
  status               checkpoints, their lag behind now, and the last runs
  reports list|cleanup MFT reports on the vendor server; delete those interrupted runs left
  emulate              start the vendor emulators in the foreground

Run \`audit-export <command> --help\` for a command's options and examples.

Exit codes: 0 ok, 1 the job failed, 2 bad usage or configuration.`;

const COMMANDS: Record<string, { run: (args: string[]) => Promise<number>; help: string }> = {
  demo: { run: demoCommand, help: DEMO_HELP },
  'run mft': { run: runMftCommand, help: RUN_MFT_HELP },
  'run xray': { run: runXrayCommand, help: RUN_XRAY_HELP },
  emulate: { run: emulateCommand, help: EMULATE_HELP },
  backfill: { run: backfillCommand, help: BACKFILL_HELP },
  status: { run: statusCommand, help: STATUS_HELP },
  reports: { run: reportsCommand, help: REPORTS_HELP },
};

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${MAIN_HELP}\n`);
    return argv.length === 0 ? EXIT_USAGE : EXIT_OK;
  }
  const twoWords = `${argv[0]} ${argv[1] ?? ''}`.trim();
  const [name, rest] = COMMANDS[twoWords] ? [twoWords, argv.slice(2)] : [argv[0]!, argv.slice(1)];
  const command = COMMANDS[name];
  if (!command) {
    const hint = argv[0] === 'run' ? ' (sources: mft, xray)' : '';
    process.stderr.write(`audit-export: unknown command "${twoWords}"${hint}\n\n${MAIN_HELP}\n`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    // Every message is scrubbed: a configuration error may quote what was configured.
    if (error instanceof UsageError) {
      process.stderr.write(scrub(`audit-export ${name}: ${error.message}${error.hint ? `\n  (${error.hint})` : ''}\n`));
      return EXIT_USAGE;
    }
    if (error instanceof ConfigError || error instanceof InvalidInputError) {
      process.stderr.write(`audit-export ${name}: ${scrubbedMessage(error)}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`audit-export ${name}: ${scrubbedMessage(error)}\n`);
    return EXIT_FAILED;
  }
}
