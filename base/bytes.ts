/** Byte strings: comparison (the one implementation in offpay: test/core/shared-base.test.ts refuses a second one) and concatenation. */

/**
 * True when `a` and `b` hold the same bytes. The time taken depends only on the length, not on where they
 * differ (no early exit), so it is also the comparison to use on secrets and MACs.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/**
 * True when `a` begins with the bytes of `prefix`, compared in place (no subarray is made: it runs on every
 * signature a verifier sees). Like `equalBytes`, no early exit on a differing byte.
 */
export function startsWithBytes(a: Uint8Array, prefix: Uint8Array): boolean {
  if (a.length < prefix.length) return false;
  let d = 0;
  for (let i = 0; i < prefix.length; i++) d |= a[i]! ^ prefix[i]!;
  return d === 0;
}

/** The bytes of `parts`, one after another, in a new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
