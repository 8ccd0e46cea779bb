/**
 * Hexadecimal, the one implementation in offpay (test/core/shared-base.test.ts refuses a second one).
 * Lower-case out; either case in.
 */

/** "00".."ff" by byte value: a table lookup per byte (store keys and caches use this on hot paths). */
const BYTE_HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex of the bytes (two characters per byte, no separator). */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += BYTE_HEX[b[i]!]!;
  return s;
}

/**
 * The bytes of a hex string (either case, surrounding whitespace ignored).
 * @throws Error for an odd length or a non-hex character.
 */
export function fromHex(h: string): Uint8Array {
  const clean = h.trim();
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error('not a hex string');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}
