/** Seeded pseudo-random numbers for the simulator, tests, fixtures and benchmarks (not for keys). */
import { mulberry32 } from '../../base/prng.js';

/** A seeded pseudo-random generator ({@link makeRng}), so every simulated channel can be replayed. Not for keys. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal. */
  gauss(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** `n` uniform random bytes. */
  bytes(n: number): Uint8Array;
}

/** mulberry32 for uniforms, Box-Muller for normals. */
export function makeRng(seed: number): Rng {
  let spare: number | null = null;
  const next = mulberry32(seed);
  return {
    next,
    gauss() {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      let u = 0;
      while (u <= 1e-300) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    int(n) {
      return Math.floor(next() * n);
    },
    bytes(n) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
      return out;
    },
  };
}
