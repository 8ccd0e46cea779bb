/**
 * A small command framework for the `offpay` CLI.
 *
 * Each area registers `Command`s (src/cli/commands/*.ts). Conventions, for every command:
 * - `--help` prints usage and exits 0;
 * - `--json` switches output to one JSON document on stdout;
 * - bad input or usage prints a clear message on stderr and exits 2 (EXIT_USAGE);
 * - commands that judge a token exit 0 when accepted and 1 when rejected (EXIT_REJECTED).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { OffpayError } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_REJECTED = 1;
export const EXIT_USAGE = 2;

export type OptionSpec = {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  /** One line for --help, e.g. 'amount in major units, such as 12.50'. */
  help: string;
  /** Placeholder shown in --help, e.g. 'FILE'. */
  arg?: string;
};

export interface CommandContext {
  /** Parsed options (strings, booleans, or string arrays for multiple). */
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  json: boolean;
  /** Write a line of human output (suppressed in --json mode). */
  out(line: string): void;
  /** Write the JSON result (only in --json mode). */
  emit(obj: unknown): void;
  /** A required string option or a usage error. */
  need(name: string): string;
  /** An optional string option. */
  opt(name: string): string | undefined;
  flag(name: string): boolean;
}

export interface Command {
  /** Words after `offpay`, e.g. 'fsk encode' or 'verify'. */
  name: string;
  summary: string;
  /** Usage line after `offpay NAME`, e.g. '--in FILE --out FILE [--json]'. */
  usage: string;
  options: Record<string, OptionSpec>;
  /** Whether positional arguments are accepted; the string names them for --help. */
  positionals?: string;
  /** Longer text for --help (exit codes, examples). */
  details?: string;
  run(ctx: CommandContext): Promise<number>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Write a JSON value with bigint and Uint8Array made printable (hex). */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
      return v;
    },
    2,
  );
}

export function helpText(cmd: Command): string {
  const lines = [`offpay ${cmd.name} — ${cmd.summary}`, '', `Usage: offpay ${cmd.name} ${cmd.usage}`.trimEnd(), ''];
  const entries = Object.entries(cmd.options);
  if (entries.length) {
    lines.push('Options:');
    for (const [name, spec] of entries) {
      const flag = `--${name}${spec.type === 'string' ? ` ${spec.arg ?? 'VALUE'}` : ''}`;
      lines.push(`  ${flag.padEnd(28)} ${spec.help}${spec.default !== undefined ? ` (default ${String(spec.default)})` : ''}`);
    }
  }
  lines.push(`  ${'--json'.padEnd(28)} machine-readable output`);
  lines.push(`  ${'--help'.padEnd(28)} this text`);
  if (cmd.details) lines.push('', cmd.details.trim());
  return lines.join('\n') + '\n';
}

export async function runCommand(cmd: Command, argv: string[], io = defaultIo()): Promise<number> {
  const options: ParseArgsConfig['options'] = {
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(cmd.options)) {
    options[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
      ...(spec.default !== undefined ? { default: spec.default as never } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    io.err(`offpay ${cmd.name}: ${(e as Error).message}\nRun 'offpay ${cmd.name} --help' for usage.\n`);
    return EXIT_USAGE;
  }
  const values = parsed.values as CommandContext['values'];
  if (values.help) {
    io.out(helpText(cmd));
    return EXIT_OK;
  }
  if (!cmd.positionals && parsed.positionals.length) {
    io.err(`offpay ${cmd.name}: unexpected argument '${parsed.positionals[0]}'\nRun 'offpay ${cmd.name} --help' for usage.\n`);
    return EXIT_USAGE;
  }
  const json = values.json === true;
  const ctx: CommandContext = {
    values,
    positionals: parsed.positionals,
    json,
    out: (line) => {
      if (!json) io.out(line + '\n');
    },
    emit: (obj) => {
      if (json) io.out(toJson(obj) + '\n');
    },
    need: (name) => {
      const v = values[name];
      if (typeof v !== 'string' || v === '') throw new UsageError(`missing --${name}`);
      return v;
    },
    opt: (name) => {
      const v = values[name];
      return typeof v === 'string' ? v : undefined;
    },
    flag: (name) => values[name] === true,
  };
  try {
    return await cmd.run(ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`offpay ${cmd.name}: ${e.message}\nRun 'offpay ${cmd.name} --help' for usage.\n`);
      return EXIT_USAGE;
    }
    if (e instanceof OffpayError) {
      if (json) io.out(toJson({ ok: false, ...e.toJSON() }) + '\n');
      io.err(`offpay ${cmd.name}: ${e.message} [${e.code}]\n`);
      return EXIT_USAGE;
    }
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === 'string' && err.code.startsWith('E') && err.path) {
      io.err(`offpay ${cmd.name}: cannot use ${err.path}: ${err.code}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

export function defaultIo(): Io {
  return { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };
}
