/** Helpers shared by CLI commands: time parsing, file IO with typed errors, byte-format sniffing. */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { writeFileDurable } from '../node/durable.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OffpayError } from '../../base/errors.js';
import { UsageError } from './framework.js';

/** `--now`: unix seconds or an ISO 8601 date; default the system clock. */
export function parseNow(s: string | undefined): number {
  if (s === undefined) return Math.floor(Date.now() / 1000);
  if (/^\d+$/.test(s)) return Number(s);
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) throw new UsageError(`--now: '${s}' is neither unix seconds nor an ISO 8601 date`);
  return Math.floor(ms / 1000);
}

export function parseUint(name: string, s: string | undefined, max = 0xffffffff): number | undefined {
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s) || Number(s) > max) throw new UsageError(`--${name}: expected an integer from 0 to ${max}, got '${s}'`);
  return Number(s);
}

/**
 * Check that `path` can take an output before anything is spent on it: absent or a regular file (not a directory,
 * pipe or device: a FIFO with no reader would block the write for ever), in a directory that can be made and
 * written (a probe file is created and removed). `file.unwritable` otherwise. A full disk shows only at the write.
 */
export function checkWritable(path: string): void {
  const fail = (why: string): never => {
    throw new OffpayError('file.unwritable', `cannot write ${path}: ${why}; nothing was written`, { path });
  };
  try {
    if (!statSync(path).isFile()) fail('it is not a regular file (a directory, a pipe or a device; write to a file, or give --out - for standard output)');
  } catch (e) {
    if (e instanceof OffpayError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') fail(code ?? String(e));
  }
  const probe = `${path}.probe-${process.pid}`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    closeSync(openSync(probe, 'wx', 0o600));
    unlinkSync(probe);
  } catch (e) {
    fail((e as NodeJS.ErrnoException).code ?? String(e));
  }
}

/**
 * Write an output file atomically (a temporary file, flushed, then renamed over `path`): a write that fails (a
 * full disk, a size limit) leaves the file already there as it was, and no temporary file. `file.unwritable` for
 * a target that is not a regular file or any failure (CLI attack review, 2026-12-07: a failed write truncated the
 * file already at --out, and a FIFO there hung the command).
 */
export function writeOut(path: string, data: Uint8Array | string): void {
  checkWritable(path);
  // An output that is a symbolic link is written through (its target replaced), and a file already there keeps
  // its mode; a new one gets the usual mode (0666 less the umask), as a plain write gave (diff review, 2026-12-07).
  let target = path;
  let mode = 0o666;
  try {
    target = realpathSync(path);
    mode = statSync(target).mode & 0o777;
  } catch {
    // a new file
  }
  try {
    writeFileDurable(target, data, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    if ((e as { afterRename?: boolean }).afterRename) {
      throw new OffpayError('file.unwritable', `${path} was written, but its directory could not be flushed (${code}): the new file is in place and may not survive a power cut`, { path });
    }
    throw new OffpayError('file.unwritable', `cannot write ${path}: ${code}; the file already there (if any) is unchanged`, { path });
  }
}

export type Sniffed = 'png' | 'jpeg' | 'wav' | 'digits' | 'ndef' | 'cbor';

/** Guess what kind of file a transport produced, from its first bytes. */
export function sniff(bytes: Uint8Array): Sniffed {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 12 && String.fromCharCode(...b.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...b.subarray(8, 12)) === 'WAVE') return 'wav';
  const text = new TextDecoder().decode(b.subarray(0, 64)).trim();
  if (b.length <= 64 && /^[\d\s-]{4,}$/.test(text)) return 'digits';
  return 'cbor';
}

/**
 * The directory of the installed offpay package (where its package.json is): the nearest ancestor of this
 * module whose package.json is named "offpay". Works from src/ (tests) and dist/src/ (the installed CLI),
 * whatever the working directory.
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        if ((JSON.parse(readFileSync(p, 'utf8')) as { name?: unknown }).name === 'offpay') return dir;
      } catch {
        /* not ours; keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new OffpayError('vectors.missing', `cannot find the offpay package directory above ${from}`);
    dir = up;
  }
}
