/**
 * The turbo profile's OFDM modulator (spec/fsk.md §14.3): the symbols between the chirps.
 *
 * Symbol s (s = 0 the reference, s = 1 .. R the data rows) occupies [t_s, t_s + Ts), t_s = Tc + Tgap + s Ts,
 * Ts = Tcp + Tw (2.5 + 10 ms), and is
 *   x(t) = sum_k cos(2 pi f_k (t - t_s) + phi_k(s)),   k = 0 .. K-1,
 * with no taper: every f_k is a multiple of 1 / Tw, so each carrier is periodic over the FFT window and the
 * first Tcp of the symbol is a cyclic prefix of its last Tcp. Carrier amplitudes are 1; the chirps are sent
 * at amplitude sqrt(K), the same mean power as a symbol (K / 2).
 */
import { dataStart, dataStartMicros, firstSampleAt, symbolMicros } from '../frame.js';
import { referenceSymbols, symbolPeriod, toneCount, toneHz, type Profile } from '../profiles.js';
import { dibits, Q_OF_DIBIT, referencePhase } from './mapping.js';
import { scramble } from './scrambler.js';

/**
 * The carrier phases of every symbol of a frame, phases[s * K + k], s = 0 .. N_ref + rows - 1, from the slot
 * bytes (rows * G of them, before scrambling).
 */
export function carrierPhases(p: Profile, slots: Uint8Array, rows: number): Float64Array {
  const K = toneCount(p);
  const G = p.groups;
  const nref = referenceSymbols(p);
  const nsym = nref + rows;
  const ph = new Float64Array(nsym * K);
  for (let k = 0; k < K; k++) ph[k] = referencePhase(k, K);
  const sc = scramble(slots);
  for (let s = nref; s < nsym; s++) {
    const r = s - nref;
    for (let g = 0; g < G; g++) {
      const d = dibits(sc[r * G + g]!);
      for (let i = 0; i < 4; i++) {
        const k = 4 * g + i;
        // QPSK relative to the reference symbol's phase (not to the previous symbol: one wrong decision
        // then costs one dibit, not two).
        ph[s * K + k] = ph[k]! + (Math.PI / 2) * Q_OF_DIBIT[d[i]!]!;
      }
    }
  }
  return ph;
}

/** Add the reference and data symbols of a frame (slot bytes `slots`, `rows` rows) into `out` at `rate`. */
export function addOfdmSymbols(out: Float64Array, rate: number, p: Profile, slots: Uint8Array, rows: number): void {
  const K = toneCount(p);
  const nref = referenceSymbols(p);
  const nsym = nref + rows;
  const Ts = symbolPeriod(p);
  const t0 = dataStart(p) - nref * Ts;
  const ph = carrierPhases(p, slots, rows);
  const w = new Float64Array(K);
  for (let k = 0; k < K; k++) w[k] = 2 * Math.PI * toneHz(p, k);
  // Sample ranges in integer microseconds (spec/fsk.md §14.3): symbol s is the samples n with
  // t_s <= n / fs < t_s + Ts, so the symbols tile the frame with no sample left out or sounded twice.
  const Tsus = symbolMicros(p);
  const t0us = dataStartMicros(p) - nref * Tsus;
  for (let s = 0; s < nsym; s++) {
    const ts = t0 + s * Ts;
    const n0 = firstSampleAt(t0us + s * Tsus, rate);
    const n1 = Math.min(out.length, firstSampleAt(t0us + (s + 1) * Tsus, rate));
    for (let n = n0; n < n1; n++) {
      const tau = n / rate - ts;
      let acc = 0;
      for (let k = 0; k < K; k++) acc += Math.cos(w[k]! * tau + ph[s * K + k]!);
      out[n] = out[n]! + acc;
    }
  }
}
