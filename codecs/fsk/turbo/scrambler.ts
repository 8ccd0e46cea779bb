/**
 * The turbo profile's scrambler (spec/fsk.md §14.4): slot bytes are XORed with a PN9 sequence before QPSK
 * mapping, so that runs of equal bytes (zero padding, a constant payload) do not keep every carrier's phase
 * step equal, which would make the symbols repeat and the waveform's peaks grow.
 *
 * PN9: the Fibonacci LFSR of x^9 + x^5 + 1 with a 9-bit state s, seeded 0x1FF before slot 0 of every frame.
 * Each step: bit = ((s >> 8) XOR (s >> 4)) AND 1, then s = ((s << 1) OR bit) AND 0x1FF. Eight bits make one
 * byte, the first its most significant bit (the sequence starts 07 BE 2E 64 12 9D A3 CF).
 * Descrambling is the same XOR.
 */

/** PN9 seed (all ones). */
export const PN9_SEED = 0x1ff;

/** The first `n` bytes of the PN9 sequence (x^9 + x^5 + 1, seed 0x1FF, most significant bit first). */
export function pn9Bytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = PN9_SEED;
  for (let i = 0; i < n; i++) {
    let b = 0;
    for (let k = 0; k < 8; k++) {
      const bit = ((s >> 8) ^ (s >> 4)) & 1;
      s = ((s << 1) | bit) & 0x1ff;
      b = (b << 1) | bit;
    }
    out[i] = b;
  }
  return out;
}

/** XOR `bytes` with the PN9 sequence (scramble and descramble are the same operation); returns a new array. */
export function scramble(bytes: Uint8Array): Uint8Array {
  const pn = pn9Bytes(bytes.length);
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]! ^ pn[i]!;
  return out;
}
