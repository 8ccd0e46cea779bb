/** Helpers shared by CLI commands: time parsing, file IO with typed errors, byte-format sniffing. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
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
