/**
 * The shared base module (issue 13, "codecs/ imports src/errors.ts..."): base/ holds what the protocol core
 * (src/) and the transports (codecs/) both need (OffpayError and the error codes, the seeded PRNG, hex,
 * equalBytes, CRC-32, the Damm digit codes), so that each side stands alone:
 *
 * - base/ imports nothing from src/ or codecs/;
 * - codecs/ never imports src/;
 * - src/ (outside the Node-only CLI, src/cli) imports codecs/ only through their public entry points
 *   (codecs/<transport>/index.ts or node.ts);
 * - hex, byte comparison, concatenation and CRC-32 are written once, in base/: a second hand-written copy anywhere in the
 *   shipped code, the scripts, the benchmarks or the examples fails here. (Tests may keep their own
 *   Buffer-based helpers: an independent oracle is what a test wants.)
 *
 * A static check over the sources (imports read with a regular expression, type-only imports included).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|mjs|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every relative module specifier of a file (static, dynamic, type-only, re-exports), resolved to a repository path. */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm)) {
    out.push(relative(ROOT, resolve(dirname(join(ROOT, file)), m[2]!)).split(sep).join('/'));
  }
  return out;
}

/** Why a file breaks the layering, or [] when it does not. `file` is relative to the repository root. */
export function layeringOffences(file: string, text: string): string[] {
  const bad: string[] = [];
  for (const target of importsOf(file, text)) {
    if (file.startsWith('base/') && !target.startsWith('base/')) bad.push(`${file} imports ${target} (base/ imports only base/)`);
    if (file.startsWith('codecs/') && target.startsWith('src/')) bad.push(`${file} imports ${target} (codecs/ never imports src/)`);
    if (file.startsWith('src/') && !file.startsWith('src/cli/') && target.startsWith('codecs/') && !/^codecs\/[a-z]+\/(index|node)\.js$/.test(target)) {
      bad.push(`${file} imports ${target} (src/ uses a codec through its entry point only)`);
    }
  }
  return bad;
}

/** Hand-written hex, byte comparison or CRC-32 outside base/ (the shapes such code takes). */
const DUPLICATES: [RegExp, string][] = [
  [/0xedb88320/i, 'a CRC-32 table (base/crc32.ts)'],
  [/toString\(16\)\.padStart\(2\b/, 'byte-to-hex (base/hex.ts toHex)'],
  [/parseInt\(.*,\s*16\)/, 'hex-to-byte (base/hex.ts fromHex)'],
  [/\[i\]!?\s*!==\s*\w+\[i\]!?\)\s*return false/, 'a byte-comparison loop (base/bytes.ts equalBytes)'],
  [/\|=\s*\w+\[i\]!?\s*\^\s*\w+\[i\]/, 'a byte-comparison loop (base/bytes.ts equalBytes)'],
  [/\.every\(\(\w+, i\) => \w+ === \w+\[i\]\)/, 'a byte comparison (base/bytes.ts equalBytes)'],
  [/new Uint8Array\(\w+\.reduce\(\(\w+, \w+\) => \w+ \+ \w+\.length, 0\)\)/, 'a byte concatenation, whatever its name (base/bytes.ts concatBytes)'],
  [/\b(?:function\s+|const\s+)(?:toHex|fromHex|hex|unhex|bytesToHex|hexToBytes|equalBytes|bytesEqual|sameBytes|crc32|concat|concatBytes)\s*(?:\(|=\s*\()/, 'a helper that base/ already has'],
];

export function duplicateOffences(file: string, text: string): string[] {
  if (file.startsWith('base/')) return [];
  const bad: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const [re, what] of DUPLICATES) if (re.test(line)) bad.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
  });
  return bad;
}

const SHIPPED = ['base', 'src', 'codecs', 'web', 'scripts', 'bench', 'examples'];
const files = SHIPPED.flatMap((d) => walk(join(ROOT, d))).map((f) => relative(ROOT, f).split(sep).join('/'));

describe('base/ is the one shared module; src/ and codecs/ stand alone', () => {
  it('the checks can fail', () => {
    expect(layeringOffences('codecs/fsk/x.ts', "import { OffpayError } from '../../src/errors.js';")).toHaveLength(1);
    expect(layeringOffences('codecs/qr/x.ts', "import type { Token } from '../../src/messages.js';")).toHaveLength(1);
    expect(layeringOffences('codecs/nfc/x.ts', "const m = await import('../../src/index.js');")).toHaveLength(1);
    expect(layeringOffences('base/x.ts', "export { toHex } from '../src/crypto.js';")).toHaveLength(1);
    expect(layeringOffences('src/paycode.ts', "import { packDigits } from '../codecs/qr/paycode.js';")).toHaveLength(1);
    expect(layeringOffences('src/reader/x.ts', "import { decode } from '../../codecs/fsk/index.js';")).toEqual([]);
    expect(layeringOffences('src/cli/via/fsk.ts', "import { readWav } from '../../../codecs/fsk/wav.js';")).toEqual([]);
    expect(duplicateOffences('src/x.ts', 'for (const x of b) s += x.toString(16).padStart(2, "0");')).toHaveLength(1);
    expect(duplicateOffences('codecs/x.ts', 'out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);')).toHaveLength(1);
    expect(duplicateOffences('codecs/x.ts', 'for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;')).toHaveLength(1);
    expect(duplicateOffences('src/x.ts', 'for (let i = 0; i < 32; i++) d |= s[i]! ^ b[i]!;')).toHaveLength(1);
    expect(duplicateOffences('codecs/x.ts', 'c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;')).toHaveLength(1);
    expect(duplicateOffences('scripts/x.ts', "const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');")).toHaveLength(1);
    expect(duplicateOffences('codecs/x.ts', 'function concat(parts: Uint8Array[]): Uint8Array {')).toHaveLength(1);
    expect(duplicateOffences('scripts/x.ts', '  const out = new Uint8Array(ids.reduce((s, x) => s + x.length, 0));')).toHaveLength(1);
    expect(duplicateOffences('base/hex.ts', 'for (const x of b) s += x.toString(16).padStart(2, "0");')).toEqual([]);
    expect(files.length).toBeGreaterThan(150);
  });

  it('no file breaks the layering', () => {
    const bad = files.flatMap((f) => layeringOffences(f, readFileSync(join(ROOT, f), 'utf8')));
    expect(bad).toEqual([]);
  });

  it('hex, equalBytes, concatBytes and crc32 have one implementation each, in base/', () => {
    const bad = files.flatMap((f) => duplicateOffences(f, readFileSync(join(ROOT, f), 'utf8')));
    expect(bad).toEqual([]);
  });

  it('base/ holds them', () => {
    for (const f of ['base/errors.ts', 'base/prng.ts', 'base/hex.ts', 'base/bytes.ts', 'base/crc32.ts', 'base/digits.ts']) expect(files).toContain(f);
  });
});
