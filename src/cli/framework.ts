/**
 * A small command framework for the `offpay` CLI.
 *
 * Each area registers `Command`s (src/cli/commands/*.ts). Conventions, for every command:
 * - `--help` prints usage and exits 0;
 * - `--json` switches output to one JSON document on stdout;
 * - bad input or usage prints a clear message on stderr and exits 2 (EXIT_USAGE);
 * - commands that judge a token exit 0 when accepted and 1 when rejected (EXIT_REJECTED);
 * - the main input file is given either way: `--in FILE` or a positional FILE (a command declares one of
 *   the two; the framework accepts the other);
 * - an unknown option or command gets "did you mean ...?" (src/cli/suggest.ts), exit 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { OffpayError } from '../../base/errors.js';
import { toHex } from '../../base/hex.js';
import { createProgress, type Progress, type ProgressOptions } from './progress.js';
import { didYouMean } from './suggest.js';

export const EXIT_OK = 0;
export const EXIT_REJECTED = 1;
export const EXIT_USAGE = 2;
/** The system calls of file operations: an error of one of these (without a path) is a typed file.io_error. */
const FILE_SYSCALLS = new Set(['open', 'read', 'write', 'close', 'fsync', 'fdatasync', 'rename', 'unlink', 'mkdir', 'rmdir', 'stat', 'lstat', 'fstat', 'ftruncate', 'link', 'symlink', 'readlink', 'scandir', 'opendir', 'copyfile', 'access', 'chmod', 'utime', 'realpath']);

export type OptionSpec = {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  /** One line for --help, e.g. 'amount in major units, such as 12.50'. */
  help: string;
  /** Placeholder shown in --help, e.g. 'FILE'. */
  arg?: string;
  /**
   * The value may be a negative number given after a space in the long form (`--min-level -35`): a separate
   * value that starts with '-' is taken when it is '-' and a digit, where other options (and a short alias of
   * this one) refuse it as a probable forgotten value.
   */
  negative?: boolean;
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
  /** Standard output as a data sink (`--out -`): after a write, `out` lines go to standard error. */
  stdout: { isTTY: boolean; write(data: Uint8Array | string): void };
  /** A progress line on standard error (drawn only on a terminal, never in --json mode): src/cli/progress.ts. */
  progress(label: string, options?: ProgressOptions): Progress;
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
      if (v instanceof Uint8Array) return toHex(v);
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
  const mode = inputMode(cmd);
  if (mode === 'option') lines.push(`  ${(cmd.options.in!.arg ?? 'FILE').padEnd(28)} the --in file may also be given without --in`);
  if (mode === 'positional') lines.push(`  ${'--in FILE'.padEnd(28)} same as the positional ${cmd.positionals}`);
  lines.push(`  ${'--json'.padEnd(28)} machine-readable output`);
  lines.push(`  ${'--help'.padEnd(28)} this text`);
  if (cmd.details) lines.push('', cmd.details.trim());
  return lines.join('\n') + '\n';
}

/** How a command takes its main input file: `--in FILE` and/or a positional FILE (both forms always work). */
function inputMode(cmd: Command): 'option' | 'positional' | undefined {
  if (cmd.options.in && !cmd.positionals) return 'option';
  if (cmd.positionals && !cmd.options.in) return 'positional';
  return undefined;
}

type Parsed = { values: CommandContext['values']; positionals: string[] };

/**
 * An option of the long form (`--name VALUE`, not a short alias: `-l -5` and `-fl -5` keep the usual refusal)
 * declared `negative`, given a separate value that is '-' and a digit: taken as that value.
 */
function longNegative(cmd: Command, t: { name: string; rawName: string; value?: string | undefined; inlineValue?: boolean | undefined }): boolean {
  return t.rawName.startsWith('--') && t.inlineValue === false && t.value !== undefined && cmd.options[t.name]?.negative === true && /^-\d/.test(t.value);
}

/**
 * Parse argv against the command's options with messages a person can act on: an unknown option gets
 * "unknown option --isuer; did you mean --issuer?", a missing value names the option and its argument.
 * Returns an error message instead of throwing.
 */
function parse(cmd: Command, argv: string[], options: NonNullable<ParseArgsConfig['options']>): Parsed | string {
  const known = Object.keys(options);
  const { tokens } = parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true });
  // Negative numbers after a space for the options that take them (`negative`): joined as --name=value, which
  // the strict parse below takes (it refuses a separate value that starts with '-' as ambiguous).
  const joined = new Map<number, string>();
  for (const t of tokens) {
    if (t.kind === 'option' && longNegative(cmd, t)) joined.set(t.index, `--${t.name}=${t.value}`);
  }
  const args = argv.flatMap((x, i) => (joined.has(i) ? [joined.get(i)!] : joined.has(i - 1) ? [] : [x]));
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const spec = options[t.name];
    if (!spec) {
      const long = t.rawName.startsWith('--');
      return `unknown option ${t.rawName}${long ? didYouMean(t.name, known, (c) => `--${c}`) : ''}`;
    }
    const argName = cmd.options[t.name]?.arg ?? 'VALUE';
    if (spec.type === 'string') {
      if (t.value === undefined) return `option --${t.name} needs a value (--${t.name} ${argName})`;
      if (!t.inlineValue && t.value.length > 1 && t.value.startsWith('-') && !longNegative(cmd, t)) {
        return `option --${t.name} needs a value, not '${t.value}' (write --${t.name}=${t.value} if that is the value)`;
      }
    } else if (t.inlineValue) {
      return `option --${t.name} takes no value`;
    }
  }
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as CommandContext['values'], positionals: r.positionals };
  } catch (e) {
    return (e as Error).message.replace(/'/g, '');
  }
}

export async function runCommand(cmd: Command, argv: string[], io: Io = defaultIo()): Promise<number> {
  const options: NonNullable<ParseArgsConfig['options']> = {
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
  const mode = inputMode(cmd);
  if (mode === 'positional') options.in = { type: 'string', multiple: true };
  const usage = (msg: string): number => {
    io.err(`offpay ${cmd.name}: ${msg}\nRun 'offpay ${cmd.name} --help' for usage.\n`);
    return EXIT_USAGE;
  };
  const parsed = parse(cmd, argv, options);
  if (typeof parsed === 'string') return usage(parsed);
  const values = parsed.values;
  let positionals = parsed.positionals;
  if (values.help) {
    io.out(helpText(cmd));
    return EXIT_OK;
  }
  // Input files the same way everywhere: `--in FILE` or FILE.
  if (mode === 'positional') {
    positionals = [...((values.in as string[] | undefined) ?? []), ...positionals];
    delete values.in;
  } else if (mode === 'option' && positionals.length) {
    if (typeof values.in === 'string') return usage(`give the input once: '${positionals[0]}' or --in ${values.in}, not both`);
    if (positionals.length > 1) return usage(`unexpected argument '${positionals[1]}' (one input file)`);
    values.in = positionals[0];
    positionals = [];
  }
  if (!cmd.positionals && positionals.length) return usage(`unexpected argument '${positionals[0]}'`);
  const json = values.json === true;
  // Once a command writes its data to standard output (`--out -`), its human notes go to standard error.
  let stdoutTaken = false;
  // A progress line (standard error) is erased before any other output, then redrawn by its next update.
  const progresses: Progress[] = [];
  const clearProgress = (): void => progresses.forEach((p) => p.clear());
  const ctx: CommandContext = {
    values,
    positionals,
    json,
    out: (line) => {
      if (json) return;
      clearProgress();
      if (stdoutTaken) io.err(line + '\n');
      else io.out(line + '\n');
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
    stdout: {
      isTTY: io.stdoutIsTTY === true,
      write(data) {
        if (json) throw new UsageError('--out - and --json both write to standard output; give --out FILE with --json');
        stdoutTaken = true;
        if (typeof data === 'string') io.out(data);
        else if (io.data) io.data(data);
        else io.out(Buffer.from(data).toString('latin1'));
      },
    },
    progress: (label, o = {}) => {
      const p = createProgress({ write: (s) => io.err(s), isTTY: io.stderrIsTTY === true }, label, { ...o, enabled: !json && (o.enabled ?? true) });
      progresses.push(p);
      return p;
    },
  };
  try {
    return await cmd.run(ctx);
  } catch (e) {
    clearProgress();
    if (e instanceof UsageError) return usage(e.message);
    if (e instanceof OffpayError) {
      if (json) io.out(toJson({ ok: false, ...e.toJSON() }) + '\n');
      io.err(`offpay ${cmd.name}: ${e.message} [${e.code}]\n`);
      return EXIT_USAGE;
    }
    // A system error of a file operation (a full disk, an I/O error, a directory where a file goes): typed, so
    // that --json says it and the exit is 2, never an internal error (CLI attack review, 2026-12-07).
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === 'string' && /^E[A-Z0-9]+$/.test(err.code) && (err.path || FILE_SYSCALLS.has(err.syscall ?? ''))) {
      const typed = new OffpayError('file.io_error', `${err.path ? `cannot use ${err.path}` : `a file operation (${err.syscall}) failed`}: ${err.code}`, {
        errno: err.code,
        ...(err.path ? { path: err.path } : {}),
        ...(err.syscall ? { syscall: err.syscall } : {}),
      });
      if (json) io.out(toJson({ ok: false, ...typed.toJSON() }) + '\n');
      io.err(`offpay ${cmd.name}: ${typed.message} [${typed.code}]\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

export interface Io {
  out(s: string): void;
  err(s: string): void;
  /** Raw bytes to standard output (`--out -`); without it, bytes go through `out` as latin1. */
  data?(b: Uint8Array): void;
  /** Whether standard output / standard error are terminals (default false: no terminal art, no progress). */
  stdoutIsTTY?: boolean;
  stderrIsTTY?: boolean;
}

export function defaultIo(): Io {
  return {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    data: (b) => process.stdout.write(b),
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
  };
}
