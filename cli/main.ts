import { ConfigError, InvalidInputError } from '../functions/common/errors.js';
import { scrub, scrubbedMessage } from '../functions/common/scrubber.js';
import { BACKFILL_HELP, backfillCommand } from './commands/backfill.js';
import { DEMO_HELP, demoCommand } from './commands/demo.js';
import { EMULATE_HELP, emulateCommand } from './commands/emulate.js';
import { REPORTS_HELP, reportsCommand } from './commands/reports.js';
import { RUN_MFT_HELP, runMftCommand } from './commands/run-mft.js';
import { RUN_XRAY_HELP, runXrayCommand } from './commands/run-xray.js';
import { STATUS_HELP, statusCommand } from './commands/status.js';
import { VERIFY_HELP, verifyCommand } from './commands/verify.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from './usage.js';

export const MAIN_HELP = `Usage: audit-export <command> [options]

Keeps SaaS security audit logs flowing into your S3 bucket (Progress Automate MFT, JFrog Xray Curation).

Commands:
  demo                 the main job on the local twin (what \`npm start\` runs)
  run mft              export one window of MFT audit logs
  run xray             export a range of Xray curation audit events
  backfill <source>    export a past range as idempotent manual executions
  status               checkpoints, their lag behind now, and the last runs
  verify <source>      prove a range complete: every window's manifest, objects, sizes, SHA-256, counts
  reports list|cleanup MFT reports on the vendor server; delete those interrupted runs left
  emulate              start the vendor emulators in the foreground

Run \`audit-export <command> --help\` or \`audit-export help <command>\` for a command's options and examples.

Exit codes: 0 ok, 1 the job failed, 2 bad usage or configuration.`;

export const RUN_HELP = `Usage: audit-export run <source> [options]

Exports one source's audit logs into S3 through its state machine. Sources:
  mft    Progress Automate MFT audit logs (asynchronous reports), one report per grid window
  xray   JFrog Xray Curation approved/blocked audit events (paged), a range of grid windows

Without --start/--end a run is scheduled: it continues from the stream's checkpoint.

Options every source takes:
  --start ISO, --end ISO   the range [start, end), widened to whole grid windows
  --target twin|env|aws    where it runs (default twin: the local emulators and S3 under --twin-dir)
  --twin-dir DIR           the twin's directory (default .twin)
  --json                   progress on stderr; the last stdout line is a JSON summary

Each source's own options (filters, formats): \`audit-export run mft --help\`, \`audit-export run xray --help\`.`;

/** The command a person's mistyped word most likely meant (at most two edits away). */
export function nearestCommand(word: string, names: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(word, name);
    if (distance <= Math.max(1, Math.min(2, Math.floor(name.length / 3))) && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/** Edits (insert, delete, replace, swap of neighbours) from a to b. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i]!;
      row[j] = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
    }
  }
  return rows[a.length]![b.length]!;
}

const COMMANDS: Record<string, { run: (args: string[]) => Promise<number>; help: string }> = {
  demo: { run: demoCommand, help: DEMO_HELP },
  run: { run: runCommand, help: RUN_HELP },
  'run mft': { run: runMftCommand, help: RUN_MFT_HELP },
  'run xray': { run: runXrayCommand, help: RUN_XRAY_HELP },
  emulate: { run: emulateCommand, help: EMULATE_HELP },
  backfill: { run: backfillCommand, help: BACKFILL_HELP },
  status: { run: statusCommand, help: STATUS_HELP },
  reports: { run: reportsCommand, help: REPORTS_HELP },
  verify: { run: verifyCommand, help: VERIFY_HELP },
};

/** `run` without a source it knows: the sources and their options on --help, a usage error otherwise. */
async function runCommand(args: string[]): Promise<number> {
  if (args.length === 0 || args.every((arg) => arg === '--help' || arg === '-h')) {
    (args.length ? process.stdout : process.stderr).write(`${RUN_HELP}\n`);
    return args.length ? EXIT_OK : EXIT_USAGE;
  }
  const guess = nearestCommand(args[0]!, ['mft', 'xray']);
  throw new UsageError(`unknown source "${args[0]}" (sources: mft, xray)${guess ? `: did you mean \`audit-export run ${guess}\`?` : ''}`, 'see `audit-export run --help`');
}

/** The words a person types first: commands, and `run` for `run mft` / `run xray`. */
const FIRST_WORDS = [...new Set(Object.keys(COMMANDS).map((name) => name.split(' ')[0]!)), 'help'];

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || (argv[0] === 'help' && argv.length === 1)) {
    process.stdout.write(`${MAIN_HELP}\n`);
    return argv.length === 0 ? EXIT_USAGE : EXIT_OK;
  }
  if (argv[0] === 'help') return helpCommand(argv.slice(1));
  const twoWords = `${argv[0]} ${argv[1] ?? ''}`.trim();
  const [name, rest] = COMMANDS[twoWords] ? [twoWords, argv.slice(2)] : [argv[0]!, argv.slice(1)];
  const command = COMMANDS[name];
  if (!command) {
    const guess = nearestCommand(argv[0]!, FIRST_WORDS);
    process.stderr.write(`audit-export: unknown command "${argv[0]}"${guess ? `: did you mean \`audit-export ${guess}\`?` : ''}\n\n${MAIN_HELP}\n`);
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

/** `audit-export help <command>`: the command's help, as `<command> --help` prints it. */
function helpCommand(words: string[]): number {
  const name = COMMANDS[words.join(' ')] ? words.join(' ') : words[0]!;
  const command = COMMANDS[name];
  if (!command) {
    const guess = nearestCommand(words[0]!, FIRST_WORDS);
    process.stderr.write(`audit-export help: no command "${words.join(' ')}"${guess ? `: did you mean \`audit-export help ${guess}\`?` : ''}\n\n${MAIN_HELP}\n`);
    return EXIT_USAGE;
  }
  process.stdout.write(`${command.help}\n`);
  return EXIT_OK;
}
