/**
 * The turbo profile's QPSK mapping (spec/fsk.md §14.3-14.4).
 *
 * Carrier k (k = 0 .. K-1, K = 88, f_k = 1500 + 100 k Hz) has phase phi_k(s) in symbol s. The reference
 * symbol (s = 0) sends phi_k(0) = pi k^2 / K (Newman phases: the 88 equal-amplitude carriers then peak at
 * about 3.6 dB over their RMS). Data symbol s = 1 + r carries row r: group g (carriers 4g .. 4g+3) sends the
 * scrambled byte of slot r G + g as four dibits, most significant first, dibit i on carrier 4g + i, and
 *   phi_k(s) = phi_k(0) + (pi / 2) q(d),   q(00) = 0, q(01) = 1, q(11) = 2, q(10) = 3   (Gray code),
 * so neighbouring points differ in one bit. The reference symbol is the phase reference of every data symbol
 * (coherent QPSK with one pilot symbol); the receiver decides q from the angle of Z_k(s) against its channel
 * estimate, rounded to the nearest multiple of pi / 2.
 */

/** Phase index q of each dibit value d (Gray): Q_OF_DIBIT[d]. */
export const Q_OF_DIBIT: readonly number[] = [0, 1, 3, 2];
/** Dibit value of each phase index q (the inverse): DIBIT_OF_Q[q]. */
export const DIBIT_OF_Q: readonly number[] = [0, 1, 3, 2];

/** Reference phase of carrier k of K: pi k^2 / K. */
export function referencePhase(k: number, K: number): number {
  return (Math.PI * k * k) / K;
}

/** The four dibits of a byte, most significant first. */
export function dibits(b: number): [number, number, number, number] {
  return [(b >> 6) & 3, (b >> 4) & 3, (b >> 2) & 3, b & 3];
}
