/** CLI commands for the acoustic transport (codecs/fsk): encode, decode, sim, profiles. */
import { UsageError, EXIT_OK, type Command, type CommandContext } from '../framework.js';
import {
  airTime, decodeMessage, encode, FskReceiver, FSK_PROFILES, FSK_PROFILE_NAMES, simulate, type ChannelOptions, type DecodeResult, type FskFrame,
  type FskProfileName, type ReceiverEvent, type ReceiverOptions,
} from '../../../codecs/fsk/index.js';
import { writeWav, type WavData, type WavFormat } from '../../../codecs/fsk/wav.js';
import { readBytes } from '../../node/files.js';
import { writeData } from '../payload.js';
import { readWavBounded } from '../via/fsk.js';

/** Largest payload file `fsk encode` reads (the modem itself carries at most 4096 bytes: spec/fsk.md). */
const MAX_PAYLOAD_FILE = 65536;

/**
 * decodeMessage with a progress line on a terminal: the recording is pushed through the streaming receiver
 * one second at a time, reporting the seconds done. Without a terminal it is decodeMessage itself; when no
 * message is found, decodeMessage runs again to raise exactly its error.
 */
export function decodeWithProgress(ctx: CommandContext, wav: WavData, options: Omit<ReceiverOptions, 'sampleRate'>): { payload: Uint8Array; result: DecodeResult } {
  const rate = wav.sampleRate;
  const progress = ctx.progress('decoding', { total: Math.round(wav.samples.length / rate), unit: 's of audio' });
  if (!progress.active) return decodeMessage(wav.samples, { ...options, sampleRate: rate });
  try {
    const rx = new FskReceiver({ ...options, sampleRate: rate });
    const events: ReceiverEvent[] = [];
    for (let i = 0; i < wav.samples.length; i += rate) {
      events.push(...rx.push(wav.samples.subarray(i, Math.min(i + rate, wav.samples.length))));
      progress.update(Math.min(i + rate, wav.samples.length) / rate);
    }
    events.push(...rx.flush());
    const frames: FskFrame[] = events.flatMap((e) => (e.type === 'frame' ? [e.frame] : []));
    const messages = events.flatMap((e) => (e.type === 'message' ? [e.payload] : []));
    const first = messages[0];
    if (first) return { payload: first, result: { messages, frames, events, level: rx.level() } };
  } finally {
    progress.done();
  }
  return decodeMessage(wav.samples, { ...options, sampleRate: rate });
}

function num(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || x < min || x > max) throw new UsageError(`--${name} must be a number in ${min}..${max} (got '${v}')`);
  return x;
}

function format(v: string | undefined): WavFormat {
  if (v === undefined || v === 'pcm16') return 'pcm16';
  if (v === 'float32') return 'float32';
  throw new UsageError(`--format must be pcm16 or float32 (got '${v}')`);
}

function profile(v: string | undefined): FskProfileName {
  const p = v ?? 'fast';
  if (!FSK_PROFILE_NAMES.includes(p as FskProfileName)) throw new UsageError(`--profile must be one of ${FSK_PROFILE_NAMES.join(', ')} (got '${p}')`);
  return p as FskProfileName;
}

const encodeCmd: Command = {
  name: 'fsk encode',
  summary: 'encode a payload file as a multi-tone FSK WAV',
  usage: '--in PAYLOAD --out TX.wav [--profile fast|robust|ultrasonic|turbo] [--rate 48000] [--format pcm16|float32]',
  options: {
    in: { type: 'string', help: 'payload file (raw bytes, up to 4096)', arg: 'FILE' },
    out: { type: 'string', help: "WAV file to write ('-': standard output, not a terminal)", arg: 'FILE' },
    profile: { type: 'string', help: `FSK profile: ${FSK_PROFILE_NAMES.join(', ')}`, arg: 'P', default: 'fast' },
    rate: { type: 'string', help: 'sample rate in Hz', arg: 'HZ', default: '48000' },
    format: { type: 'string', help: 'WAV sample format: pcm16 or float32', arg: 'F', default: 'pcm16' },
  },
  details: 'Exit codes: 0 written, 2 bad input. See spec/fsk.md for the frame format.',
  async run(ctx) {
    const payload = readBytes(ctx.need('in'), 'payload', MAX_PAYLOAD_FILE);
    const p = profile(ctx.opt('profile'));
    const rate = num(ctx.opt('rate'), 'rate', 8000, 192000)!;
    if (!Number.isInteger(rate)) throw new UsageError('--rate must be an integer');
    const samples = encode(payload, { profile: p, sampleRate: rate });
    const out = ctx.need('out');
    writeData(ctx, out, writeWav(samples, rate, format(ctx.opt('format'))), { what: 'WAV audio' });
    const seconds = samples.length / rate;
    ctx.out(`${out}: ${payload.length} bytes, profile ${p}, ${seconds.toFixed(3)} s at ${rate} Hz`);
    ctx.emit({ ok: true, out, bytes: payload.length, profile: p, sampleRate: rate, seconds: Number(seconds.toFixed(4)) });
    return EXIT_OK;
  },
};

const decodeCmd: Command = {
  name: 'fsk decode',
  summary: 'decode a multi-tone FSK WAV back to the payload (all profiles at once)',
  usage: '--in RX.wav [--out PAYLOAD] [--profiles fast,robust,ultrasonic,turbo] [--json]',
  options: {
    in: { type: 'string', help: 'WAV capture (PCM 8/16/24/32 or float, any rate >= 22.05 kHz)', arg: 'FILE' },
    out: { type: 'string', help: "where to write the payload bytes ('-': standard output, not a terminal)", arg: 'FILE' },
    profiles: { type: 'string', help: 'comma-separated FSK profiles to listen for (default all)', arg: 'LIST' },
  },
  details: 'Exit codes: 0 decoded, 2 unusable audio or no frame (the JSON error says why, e.g. fsk.no_preamble).',
  async run(ctx) {
    const wav = readWavBounded(ctx.need('in'));
    const list = ctx.opt('profiles')?.split(',').map((s) => profile(s.trim()));
    const { payload, result } = decodeWithProgress(ctx, wav, list ? { profiles: list } : {});
    const out = ctx.opt('out');
    if (out) writeData(ctx, out, payload, { what: 'payload bytes' });
    const frames = result.frames.map((f) => ({ segment: f.segment, ...f.diagnostics }));
    ctx.out(`${payload.length} bytes${out ? ` -> ${out}` : ''}`);
    for (const f of frames) {
      ctx.out(`  frame ${f.segment.index + 1}/${f.segment.count} ${f.profile}: SNR ${f.snrDb} dB, offset ${f.clockOffsetPpm} ppm, ${f.byteErrors} byte errors corrected`);
    }
    ctx.emit({
      ok: true, bytes: payload.length, payload, sampleRate: wav.sampleRate, level: result.level, frames,
      failures: result.events.filter((e) => e.type === 'failure'),
    });
    return EXIT_OK;
  },
};

const simCmd: Command = {
  name: 'fsk sim',
  summary: 'pass a WAV through the seeded acoustic channel simulator',
  usage: '--in TX.wav --out RX.wav [--snr DB] [--noise white|pink] [--rt60 S --drr DB] [--offset PCT] [--rate HZ] [--clip DB] [--band LO-HI] [--seed N]',
  options: {
    in: { type: 'string', help: 'input WAV (sample rate 8000..192000 Hz)', arg: 'FILE' },
    out: { type: 'string', help: 'output WAV', arg: 'FILE' },
    snr: { type: 'string', help: 'full-band SNR in dB (spec/fsk.md §9); negative values as --snr=-5', arg: 'DB' },
    noise: { type: 'string', help: 'noise colour: white or pink', arg: 'KIND', default: 'white' },
    rt60: { type: 'string', help: 'room reverberation time in seconds', arg: 'S' },
    drr: { type: 'string', help: 'direct-to-reverberant ratio in dB (with --rt60)', arg: 'DB', default: '10' },
    offset: { type: 'string', help: 'clock offset in percent (+1 = capture compressed by 1 %)', arg: 'PCT' },
    rate: { type: 'string', help: 'capture sample rate in Hz, 8000..192000 (e.g. 44100)', arg: 'HZ' },
    clip: { type: 'string', help: 'overdrive in dB above full scale, then hard clip', arg: 'DB' },
    band: { type: 'string', help: 'speaker/mic band limit, e.g. 300-8000', arg: 'LO-HI' },
    seed: { type: 'string', help: 'random seed', arg: 'N', default: '1' },
    format: { type: 'string', help: 'output WAV format: pcm16 or float32', arg: 'F', default: 'float32' },
  },
  details: 'Exit codes: 0 written, 2 bad input (fsk.bad_rate: a WAV whose rate is outside 8000..192000 Hz; fsk.bad_input: a capture over 2^24 samples).',
  async run(ctx) {
    const wav = readWavBounded(ctx.need('in'));
    const ch: ChannelOptions = { seed: num(ctx.opt('seed'), 'seed', 0, 2 ** 32 - 1)! };
    const snr = num(ctx.opt('snr'), 'snr', -40, 100);
    if (snr !== undefined) ch.snrDb = snr;
    const noise = ctx.opt('noise');
    if (noise !== 'white' && noise !== 'pink') throw new UsageError('--noise must be white or pink');
    ch.noise = noise;
    const rt60 = num(ctx.opt('rt60'), 'rt60', 0.01, 5);
    if (rt60 !== undefined) {
      ch.rt60 = rt60;
      ch.drrDb = num(ctx.opt('drr'), 'drr', -20, 60)!;
    }
    const off = num(ctx.opt('offset'), 'offset', -10, 10);
    if (off !== undefined) ch.clockOffset = off / 100;
    const rate = num(ctx.opt('rate'), 'rate', 8000, 192000);
    if (rate !== undefined) {
      if (!Number.isInteger(rate)) throw new UsageError('--rate must be an integer');
      ch.outRate = rate;
    }
    const clip = num(ctx.opt('clip'), 'clip', 0, 60);
    if (clip !== undefined) ch.clipDb = clip;
    const band = ctx.opt('band');
    if (band !== undefined) {
      const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(band);
      if (!m || Number(m[1]) >= Number(m[2])) throw new UsageError(`--band must look like 300-8000 (got '${band}')`);
      ch.bandLowHz = Number(m[1]);
      ch.bandHighHz = Number(m[2]);
    }
    const res = simulate(wav.samples, wav.sampleRate, ch);
    const out = ctx.need('out');
    writeData(ctx, out, writeWav(res.samples, res.rate, format(ctx.opt('format'))), { what: 'WAV audio' });
    ctx.out(`${out}: ${(res.samples.length / res.rate).toFixed(3)} s at ${res.rate} Hz (${JSON.stringify(ch)})`);
    ctx.emit({ ok: true, out, sampleRate: res.rate, seconds: res.samples.length / res.rate, channel: ch });
    return EXIT_OK;
  },
};

const profilesCmd: Command = {
  name: 'fsk profiles',
  summary: 'list the FSK profiles with their tone plans and air time for 200 bytes',
  usage: '[--json]',
  options: {},
  async run(ctx) {
    const rows = FSK_PROFILES.map((p) => ({
      ...p, toneBandHz: [p.baseHz, p.baseHz + (p.groups * p.tonesPerGroup - 1) * p.spacingHz], airTime200: Number(airTime(p, 200).toFixed(4)),
    }));
    for (const r of rows) {
      const plan = r.modulation === 'ofdm-qpsk' ? `${r.groups * r.tonesPerGroup} x QPSK OFDM` : `${r.groups} x ${r.tonesPerGroup}-FSK`;
      ctx.out(`${r.name.padEnd(11)} id ${r.id}  ${plan}  ${r.toneBandHz[0]}-${r.toneBandHz[1]} Hz  200 B in ${r.airTime200.toFixed(3)} s`);
    }
    ctx.emit({ ok: true, profiles: rows });
    return EXIT_OK;
  },
};

export const commands: Command[] = [encodeCmd, decodeCmd, simCmd, profilesCmd];
