#!/usr/bin/env node
/**
 * `offpay` — the command-line entry point. Commands live in src/cli/commands/*.ts, one file per area.
 */
import { fileURLToPath } from 'node:url';
import { realpathSync } from 'node:fs';
import { defaultIo, EXIT_USAGE, runCommand, type Command, type Io } from './framework.js';
import { commands as core } from './commands/core.js';
import { commands as fsk } from './commands/fsk.js';
import { commands as qr } from './commands/qr.js';
import { commands as nfc } from './commands/nfc.js';
import { commands as reader } from './commands/reader.js';
import { commands as demo } from './commands/demo.js';
import { commands as playground } from './commands/playground.js';

export const ALL_COMMANDS: Command[] = [...core, ...reader, ...fsk, ...qr, ...nfc, ...demo, ...playground];

function topHelp(): string {
  const width = Math.max(...ALL_COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'offpay — signed offline payment tokens over sound, QR and NFC',
    '',
    'Usage: offpay COMMAND [options]   (offpay COMMAND --help for each command)',
    '',
    'Commands:',
    ...ALL_COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Exit codes: 0 success or accepted, 1 token rejected, 2 unusable input or usage.',
    '',
  ].join('\n');
}

/** Run the CLI with `argv` (the words after `offpay`). Returns the exit code. */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(topHelp());
    return argv.length === 0 ? EXIT_USAGE : 0;
  }
  // Longest match of command words: 'reader accept' before 'reader'.
  let best: Command | undefined;
  let used = 0;
  for (const cmd of ALL_COMMANDS) {
    const words = cmd.name.split(' ');
    if (words.length > argv.length) continue;
    if (words.every((w, i) => argv[i] === w) && words.length > used) {
      best = cmd;
      used = words.length;
    }
  }
  if (!best) {
    const group = ALL_COMMANDS.filter((c) => c.name.split(' ')[0] === argv[0]);
    if (group.length) {
      io.err(`offpay ${argv[0]}: expected one of: ${group.map((c) => c.name).join(', ')}\n`);
    } else {
      io.err(`offpay: unknown command '${argv[0]}'. Run 'offpay --help'.\n`);
    }
    return EXIT_USAGE;
  }
  return runCommand(best, argv.slice(used), io);
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
