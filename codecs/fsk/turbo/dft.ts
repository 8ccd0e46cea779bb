/**
 * The turbo receiver's symbol DFT (spec/fsk.md §14.6 step 1): the complex amplitude of every carrier in one
 * FFT window of the capture, at any sample rate and clock offset.
 *
 * For a window that starts at the fractional capture position u (samples) and carriers at f_k (1 + eps) Hz,
 *   Z_k = sum_{i=0}^{N-1} x[n_0 + i] e^{-j 2 pi f_k (1 + eps) (n_0 + i - u) / fs},
 * n_0 = round(u), N = round(Tw fs / (1 + eps)). The phase is referred to u itself, not to the sample n_0, so
 * rounding the window start does not change a carrier's phase from one symbol to the next (a whole sample at
 * 48 kHz is 1.3 rad at 10 kHz). The carriers are not an FFT grid at 44.1 kHz or under a clock offset, so the
 * sum is evaluated directly: one complex rotation per carrier and sample (K N ~ 42 000 per symbol).
 */

/** Where the DFT reads the capture: absolute sample positions (0 outside what is buffered). */
export interface SampleSource {
  sample(n: number): number;
}

/**
 * Z_k of window (u, N) for angular frequencies omega[k] (radians per capture sample), written into re/im.
 * `win` is scratch of length >= N.
 */
export function carrierDft(
  src: SampleSource, u: number, N: number, omega: Float64Array, re: Float64Array, im: Float64Array, win: Float64Array,
): void {
  const n0 = Math.round(u);
  for (let i = 0; i < N; i++) win[i] = src.sample(n0 + i);
  const d = n0 - u;
  for (let k = 0; k < omega.length; k++) {
    const w = omega[k]!;
    // Phasor e^{-j w (n0 - u + i)}, advanced by e^{-j w} per sample (rounding drift ~1e-13 over N).
    let pr = Math.cos(w * d);
    let pi = -Math.sin(w * d);
    const sr = Math.cos(w);
    const si = -Math.sin(w);
    let ar = 0;
    let ai = 0;
    for (let i = 0; i < N; i++) {
      const x = win[i]!;
      ar += x * pr;
      ai += x * pi;
      const t = pr * sr - pi * si;
      pi = pr * si + pi * sr;
      pr = t;
    }
    re[k] = ar;
    im[k] = ai;
  }
}
