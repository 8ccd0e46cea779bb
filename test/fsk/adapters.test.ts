import { describe, expect, it } from 'vitest';
import { OfflineAudioContext, AudioWorkletNode } from 'web-audio-api';
import { decode, encode, makeRng, readWav, writeWav } from '../../codecs/fsk/index.js';
import { encodeToAudioBuffer, playPayload, startCapture, CAPTURE_WORKLET_SOURCE } from '../../codecs/fsk/webaudio.js';
import { OffpayError } from '../../base/errors.js';

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'none');

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OffpayError);
    return (e as OffpayError).code;
  }
  return 'no error';
}

function header(over: Partial<{ riff: string; wave: string; fmtSize: number; code: number; ch: number; rate: number; byteRate: number; align: number; bits: number; dataSize: number }> = {}, data = new Uint8Array(8)): Uint8Array {
  const o = { riff: 'RIFF', wave: 'WAVE', fmtSize: 16, code: 1, ch: 1, rate: 48000, byteRate: 96000, align: 2, bits: 16, dataSize: data.length, ...over };
  const buf = new Uint8Array(44 + data.length);
  const dv = new DataView(buf.buffer);
  const a = (p: number, s: string) => [...s].forEach((c, i) => (buf[p + i] = c.charCodeAt(0)));
  a(0, o.riff);
  dv.setUint32(4, 36 + data.length, true);
  a(8, o.wave);
  a(12, 'fmt ');
  dv.setUint32(16, o.fmtSize, true);
  dv.setUint16(20, o.code, true);
  dv.setUint16(22, o.ch, true);
  dv.setUint32(24, o.rate, true);
  dv.setUint32(28, o.byteRate, true);
  dv.setUint16(32, o.align, true);
  dv.setUint16(34, o.bits, true);
  a(36, 'data');
  dv.setUint32(40, o.dataSize, true);
  buf.set(data, 44);
  return buf;
}

describe('WAV', () => {
  it('round-trips 16-bit PCM and float32 and decodes the modem signal from both', () => {
    const payload = makeRng(2).bytes(200);
    const x = encode(payload, { profile: 'fast', sampleRate: 44100 });
    for (const fmt of ['pcm16', 'float32'] as const) {
      const w = readWav(writeWav(x, 44100, fmt));
      expect(w.sampleRate).toBe(44100);
      expect(w.samples.length).toBe(x.length);
      const tol = fmt === 'pcm16' ? 1 / 32767 : 0;
      for (let i = 0; i < x.length; i += 97) expect(Math.abs(w.samples[i]! - x[i]!)).toBeLessThanOrEqual(tol);
      expect(decode(w.samples, w.sampleRate).messages.map(hex)).toEqual([hex(payload)]);
    }
  });
  it('pcm16 encoding is exact and clamps', () => {
    const w = writeWav(Float32Array.from([0, 1, -1, 2, -2, 0.5, NaN]), 8000, 'pcm16');
    const dv = new DataView(w.buffer);
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => dv.getInt16(44 + 2 * i, true))).toEqual([0, 32767, -32767, 32767, -32767, 16384, 0]);
  });
  it('reads stereo by averaging and 24-bit PCM', () => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setInt16(0, 16384, true);
    new DataView(data.buffer).setInt16(2, -16384, true);
    new DataView(data.buffer).setInt16(4, 8192, true);
    new DataView(data.buffer).setInt16(6, 8192, true);
    const w = readWav(header({ ch: 2, align: 4, byteRate: 192000 }, data));
    expect([...w.samples]).toEqual([0, 0.25]);
    const d24 = new Uint8Array([0, 0, 0x40, 0, 0, 0xc0]);
    expect([...readWav(header({ bits: 24, align: 3, byteRate: 144000 }, d24)).samples]).toEqual([0.5, -0.5]);
  });
  it('strict header validation gives typed errors', () => {
    expect(code(() => readWav(new Uint8Array(0)))).toBe('fsk.wav_truncated');
    expect(code(() => readWav(header({ riff: 'RIFX' })))).toBe('fsk.wav_bad_header');
    expect(code(() => readWav(header({ wave: 'AVI ' })))).toBe('fsk.wav_bad_header');
    expect(code(() => readWav(header({ code: 2 })))).toBe('fsk.wav_unsupported');
    expect(code(() => readWav(header({ bits: 12 })))).toBe('fsk.wav_unsupported');
    expect(code(() => readWav(header({ ch: 0 })))).toBe('fsk.wav_unsupported');
    expect(code(() => readWav(header({ align: 3 })))).toBe('fsk.wav_bad_header');
    expect(code(() => readWav(header({ byteRate: 1 })))).toBe('fsk.wav_bad_header');
    expect(code(() => readWav(header({ rate: 0, byteRate: 0 })))).toBe('fsk.wav_bad_header');
    expect(code(() => readWav(header({ fmtSize: 8 })))).toBe('fsk.wav_bad_header');
    expect(code(() => readWav(header({ dataSize: 9 })))).toBe('fsk.wav_truncated');
    expect(code(() => readWav(header({}, new Uint8Array(7))))).toBe('fsk.wav_truncated');
    const good = writeWav(new Float32Array(100), 48000);
    expect(code(() => readWav(good.subarray(0, 60)))).toBe('fsk.wav_truncated');
  });
  it('property-style: every truncation or byte flip of a header is handled without a crash', () => {
    const good = writeWav(encode(makeRng(1).bytes(20), { profile: 'fast' }), 48000);
    const rng = makeRng(99);
    for (let i = 0; i < 300; i++) {
      const b = good.slice(0, i < 100 ? rng.int(good.length) : good.length);
      if (i >= 100) b[rng.int(44)] = rng.int(256);
      try {
        readWav(b);
      } catch (e) {
        expect(e).toBeInstanceOf(OffpayError);
        expect((e as OffpayError).code).toMatch(/^fsk\.wav_/);
      }
    }
  });
});

describe('Web Audio (web-audio-api in Node)', () => {
  it('renders playback through an OfflineAudioContext and decodes it', async () => {
    const payload = makeRng(3).bytes(200);
    const ctx = new OfflineAudioContext(1, 48000 * 1.5, 48000);
    const src = playPayload(ctx as unknown as BaseAudioContext, payload, { profile: 'fast', when: 0.2 });
    expect(src.buffer!.length).toBe(encode(payload, { profile: 'fast' }).length);
    const rendered = await ctx.startRendering();
    const r = decode(rendered.getChannelData(0), 48000);
    expect(r.messages.map(hex)).toEqual([hex(payload)]);
  });

  it('captures through the AudioWorklet processor in 128-frame blocks into the streaming receiver', async () => {
    const payload = makeRng(4).bytes(150);
    const rate = 44100;
    const ctx = new OfflineAudioContext(1, Math.round(rate * 1.6), rate);
    const source = ctx.createBufferSource();
    const audio = encodeToAudioBuffer(ctx as unknown as BaseAudioContext, payload, { profile: 'fast' });
    source.buffer = audio as never;
    const got: Uint8Array[] = [];
    const levels: { rmsDbfs: number; peakDbfs: number }[] = [];
    const handle = await startCapture(ctx as unknown as BaseAudioContext, source as unknown as AudioNode, {
      batch: 128,
      onLevel: (l) => levels.push(l),
      AudioWorkletNodeClass: AudioWorkletNode as unknown as typeof globalThis.AudioWorkletNode,
      onEvent: (e) => {
        if (e.type === 'message') got.push(e.payload);
      },
    });
    source.start(0.3);
    await ctx.startRendering();
    // Let the worklet's port messages drain.
    // (The input goes silent-and-channelless once the source ends, so the worklet stops posting then.)
    const need = Math.floor((0.3 * rate + audio.length) / 128) * 128;
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && handle.receiver.level().samples < need) await new Promise((r) => setTimeout(r, 1));
    expect(handle.receiver.level().samples).toBeGreaterThanOrEqual(need);
    handle.stop();
    expect(got.map(hex)).toEqual([hex(payload)]);
    expect(CAPTURE_WORKLET_SOURCE).toContain('registerProcessor');
    // One level a batch: digital silence before the source starts (at 0.3 s), the tones after it.
    expect(levels.length).toBeGreaterThanOrEqual(Math.floor(need / 128) - 1);
    expect(levels[0]!.rmsDbfs).toBeLessThan(-150);
    const loud = levels.reduce((a, b) => (b.peakDbfs > a.peakDbfs ? b : a));
    const peak = audio.getChannelData(0).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(loud.peakDbfs).toBeCloseTo(20 * Math.log10(peak), 1);
    expect(loud.rmsDbfs).toBeLessThan(loud.peakDbfs);
  });
});
