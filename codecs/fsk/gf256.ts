/**
 * Arithmetic in GF(2^8) with the primitive polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D) and generator
 * alpha = 2, the field used by the Reed-Solomon code of spec/fsk.md (and by QR codes, ISO/IEC 18004).
 */
export const GF_POLY = 0x11d;

/** EXP[i] = alpha^i for i in 0..509 (doubled so products need no modulo). */
export const EXP = new Uint8Array(512);
/** LOG[x] = log_alpha(x) for x in 1..255; LOG[0] is unused. */
export const LOG = new Uint8Array(256);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= GF_POLY;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[LOG[a]! + LOG[b]!]!;
}

export function gfDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError('GF(256) division by zero');
  if (a === 0) return 0;
  return EXP[(LOG[a]! + 255 - LOG[b]!) % 255]!;
}

export function gfInv(a: number): number {
  return gfDiv(1, a);
}

/** alpha^e for any integer e. */
export function gfPow(e: number): number {
  return EXP[((e % 255) + 255) % 255]!;
}
