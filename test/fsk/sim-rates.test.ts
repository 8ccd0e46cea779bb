/**
 * The channel simulator takes only the codec's sample rates (spec/fsk.md §1, §9: 8000 … 192000 Hz, else
 * fsk.bad_rate) and bounds its capture (2^24 samples, else fsk.bad_input), both checked before it resamples:
 * a 96 KB WAV whose header said 1 Hz, with --rate 192000, used to end in "internal error: RangeError: Invalid
 * typed array length" (exit 70), and one at 8 Hz resampled for 20 s at 450 MB.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { MAX_SIM_SAMPLES, resample, simulate } from '../../codecs/fsk/sim.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** The built CLI, killed after `timeout` ms. */
function cli(args: string[], timeout = 8000): { status: number | null; timedOut: boolean; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'] });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT' || r.signal === 'SIGKILL';
  return { status: r.status, timedOut, err: r.stderr ?? '' };
}

/** A 16-bit mono PCM WAV of `n` samples at `rate` Hz. */
function wav(rate: number, n: number): Buffer {
  const data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) data.writeInt16LE(((i * 7919) % 2000) - 1000, i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0); h.writeUInt32LE(36 + data.length, 4); h.write('WAVE', 8);
  h.write('fmt ', 12); h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24); h.writeUInt32LE(rate * 2, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34);
  h.write('data', 36); h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

function codeOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return e instanceof OffpayError ? e.code : `not an OffpayError: ${String(e)}`;
  }
}

const d = mkdtempSync(join(tmpdir(), 'offpay-fsk-sim-rates-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

describe('offpay fsk sim refuses a WAV whose sample rate is outside 8000 … 192000 Hz', () => {
  it('a 1 Hz WAV with --rate 192000 is fsk.bad_rate (exit 2), not a RangeError', () => {
    writeFileSync(p('r1.wav'), wav(1, 48000));
    const r = cli(['fsk', 'sim', p('r1.wav'), '--out', p('o1.wav'), '--rate', '192000']);
    expect(r.err).not.toMatch(/internal error|RangeError/);
    expect(r.status).toBe(2);
    expect(r.err).toContain('[fsk.bad_rate]');
  });

  it('an 8 Hz WAV with --rate 192000 is refused promptly instead of resampling for ever', () => {
    writeFileSync(p('r8.wav'), wav(8, 48000));
    const r = cli(['fsk', 'sim', p('r8.wav'), '--out', p('o8.wav'), '--rate', '192000']);
    expect(r.timedOut, 'fsk sim ran past 8 s on a 96 KB WAV').toBe(false);
    expect(r.status).toBe(2);
    expect(r.err).toContain('[fsk.bad_rate]');
  });

  it('a 1 Hz WAV without --rate is refused too (it used to be written back at 1 Hz, exit 0)', () => {
    writeFileSync(p('r1b.wav'), wav(1, 100));
    const r = cli(['fsk', 'sim', p('r1b.wav'), '--out', p('o1b.wav')]);
    expect(r.status).toBe(2);
    expect(r.err).toContain('[fsk.bad_rate]');
  });
});

describe('simulate and resample check rates and lengths before allocating', () => {
  const x = new Float32Array(100);
  it('input and capture rates outside 8000 … 192000 Hz (or not whole) are fsk.bad_rate', () => {
    for (const rate of [1, 8, 7999, 192001, 44100.5, Number.NaN]) expect(codeOf(() => simulate(x, rate, { seed: 1 }))).toBe('fsk.bad_rate');
    for (const outRate of [1, 7999, 192001, 22050.5]) expect(codeOf(() => simulate(x, 48000, { seed: 1, outRate }))).toBe('fsk.bad_rate');
    expect(simulate(x, 8000, { seed: 1, outRate: 192000, leadIn: 0, tail: 0 }).rate).toBe(192000);
  });

  it('a capture over MAX_SIM_SAMPLES, a bad lead-in or tail, or a clock offset at -100 % is fsk.bad_input', () => {
    expect(codeOf(() => simulate(x, 8000, { seed: 1, leadIn: MAX_SIM_SAMPLES / 8000 + 1 }))).toBe('fsk.bad_input');
    // 0.7 s at 8 kHz is fine; at 192 kHz x 1.1 it would be 2^24 + samples after resampling.
    const long = new Float32Array(700_000);
    expect(codeOf(() => simulate(long, 8000, { seed: 1, outRate: 192000, clockOffset: -0.1 }))).toBe('fsk.bad_input');
    expect(codeOf(() => simulate(x, 48000, { seed: 1, leadIn: -1 }))).toBe('fsk.bad_input');
    expect(codeOf(() => simulate(x, 48000, { seed: 1, tail: Number.POSITIVE_INFINITY }))).toBe('fsk.bad_input');
    expect(codeOf(() => simulate(x, 48000, { seed: 1, clockOffset: -1 }))).toBe('fsk.bad_input');
    expect(codeOf(() => resample(new Float64Array(10), 0))).toBe('fsk.bad_input');
    expect(codeOf(() => resample(new Float64Array(1000), 1e-5))).toBe('fsk.bad_input');
  });
});
