/** Helpers shared by CLI commands: time parsing, file IO with typed errors, byte-format sniffing. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

export function writeOut(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
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
