#!/usr/bin/env node
/**
 * `offpay` — the command-line entry point. Commands live in src/cli/commands/*.ts, one file per area, and are
 * loaded on use through the table in src/cli/registry.ts (so `offpay --help` loads no command module).
 */
import { fileURLToPath } from 'node:url';
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { defaultIo, EXIT_USAGE, runCommand, type Io } from './framework.js';
import { COMMANDS, loadCommand, type CommandEntry } from './registry.js';
import { closest } from './suggest.js';

/** Every command's name and summary (the static table of src/cli/registry.ts; modules load on use). */
export const ALL_COMMANDS: readonly CommandEntry[] = COMMANDS;

function topHelp(): string {
  const width = Math.max(...ALL_COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'offpay — signed offline payment tokens over sound, QR and NFC',
    '',
    'Usage: offpay COMMAND [options]   (offpay COMMAND --help for each command; offpay --version)',
    '',
    'Commands:',
    ...ALL_COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Files: the input as FILE or --in FILE; a token or request is read from CBOR, WAV, PNG/JPEG or NDEF alike',
    '(detected by content); --out - writes to standard output (a QR code on a terminal; never binary to one).',
    'Progress is drawn on standard error when it is a terminal (never with --json).',
    '',
    'Exit codes: 0 success or accepted, 1 token rejected, 2 unusable input or usage.',
    '',
  ].join('\n');
}

/** The command the words start with: the longest match ('reader accept' before 'reader'). */
function lookup(argv: string[]): { entry: CommandEntry; used: number } | undefined {
  let best: CommandEntry | undefined;
  let used = 0;
  for (const c of ALL_COMMANDS) {
    const words = c.name.split(' ');
    if (words.length > argv.length) continue;
    if (words.every((w, i) => argv[i] === w) && words.length > used) {
      best = c;
      used = words.length;
    }
  }
  return best ? { entry: best, used } : undefined;
}

/** The message for words that name no command, with the closest command when there is one. */
function unknownCommand(argv: string[]): string {
  const names = ALL_COMMANDS.map((c) => c.name);
  const group = ALL_COMMANDS.filter((c) => c.name.split(' ')[0] === argv[0]);
  if (group.length) {
    const sub = argv[1] !== undefined && !argv[1].startsWith('-') ? argv[1] : undefined;
    const subs = group.map((c) => c.name.split(' ').slice(1).join(' '));
    const guess = sub === undefined ? undefined : closest(sub, subs);
    const what = sub === undefined ? `offpay ${argv[0]}: give a command` : `offpay: unknown command '${argv[0]} ${sub}'`;
    return `${what}${guess !== undefined ? `; did you mean '${argv[0]} ${guess}'?` : ''} (one of: ${group.map((c) => c.name).join(', ')})`;
  }
  const two = argv.slice(0, 2).join(' ');
  const guess = closest(two, names) ?? closest(argv[0]!, [...new Set(names.map((n) => n.split(' ')[0]!))]);
  return `offpay: unknown command '${argv[0]}'${guess !== undefined ? `; did you mean '${guess}'?` : ''}`;
}

/**
 * This package's version: from the nearest package.json named offpay above this file (dist/src/cli when
 * installed, src/cli in the repository).
 */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    try {
      const p = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (p.name === 'offpay' && typeof p.version === 'string') return p.version;
    } catch {
      // no package.json here: one level up
    }
  }
  return 'unknown';
}

/** Run the CLI with `argv` (the words after `offpay`). Returns the exit code. */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    io.out(`offpay ${packageVersion()}\n`);
    return 0;
  }
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(topHelp());
    return argv.length === 0 ? EXIT_USAGE : 0;
  }
  const found = lookup(argv);
  // `offpay reader --help`, `offpay nfc tag --help`: the commands of that group, as --help of any command exits 0.
  if (!found && (argv.includes('--help') || argv.includes('-h'))) {
    const words = argv.slice(0, argv.findIndex((a) => a.startsWith('-'))).join(' ');
    const group = words ? ALL_COMMANDS.filter((c) => c.name.startsWith(`${words} `)) : [];
    if (group.length) {
      const width = Math.max(...group.map((c) => c.name.length));
      io.out(`offpay ${words}: ${group.length} command${group.length === 1 ? '' : 's'} (offpay COMMAND --help for each)\n\n${group.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}\n`);
      return 0;
    }
  }
  if (!found) {
    io.err(`${unknownCommand(argv)}\nRun 'offpay --help' for the list of commands.\n`);
    return EXIT_USAGE;
  }
  return runCommand(await loadCommand(found.entry), argv.slice(found.used), io);
}

const isEntry = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (isEntry) {
  // A reader of our output that goes away early (`offpay inspect X | head`) is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`offpay: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
