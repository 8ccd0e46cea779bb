/**
 * Streaming receiver (spec/fsk.md §7): a thin composition of four blocks, on liquid-dsp's framesync / demod
 * lines. Push samples in chunks of any size; the receiver listens for every enabled profile at once and emits
 * events: 'preamble' (a chirp was heard), 'frame' (a decoded frame with diagnostics), 'message' (a complete,
 * reassembled payload), 'failure' (why a frame that was heard could not be decoded).
 *
 *   samples -> InputBuffer (input.ts: sanitise, level meter, history with N_lead samples of silence before 0)
 *           -> ChirpDetector (detector.ts: chirp matched filter, peaks, preamble/postamble pairing, clock offset
 *              and start refinement) -> FrameSync
 *           -> ToneDemodulator (demodulator.ts: Goertzel tone energies, soft decisions, byte confidences,
 *              reverberation metrics)
 *           -> decodeSlots + MessageReassembler (reassembler.ts: RS with erasures, header, CRC-32, segments)
 *
 * The receiver owns the events, the diagnostics and the order of attempts (plain energies first, the
 * reverberation metrics only when they do not decode). reset() returns every block to its state after
 * construction, so a receiver can be reused (e.g. in an AudioWorklet) without reallocating its arena.
 */
import { OffpayError, type ErrorCodeOf } from '../../base/errors.js';
import { ChirpDetector, type DetectorSink, type FrameSync, type SyncFailure } from './detector.js';
import { ToneDemodulator, type SoftBytes } from './demodulator.js';
import { layoutForRows, type BlockLayout } from './frame.js';
import { InputBuffer, roundDb, type HistoryConsumer } from './input.js';
import { MAX_RATE, MIN_RATE } from './modulate.js';
import { validateOptions, type OptionsSchema } from '../../base/options.js';
import { FSK_PROFILES, FSK_PROFILE_NAMES, type FskProfile, type FskProfileName } from './profiles.js';
import { decodeSlots, MessageReassembler, type SlotDecode } from './reassembler.js';
import { trace, tracing } from './trace.js';
import { OfdmDemodulator } from './turbo/demodulator.js';

export { slotsFromMetric, reverbMetrics } from './demodulator.js';
export { decodeSlots } from './reassembler.js';

/** Default peak threshold on rho^2. */
export const DEFAULT_THRESHOLD = 0.08;
/** Default largest clock offset searched (2 %). */
export const DEFAULT_MAX_CLOCK_OFFSET = 0.02;
/** Smallest maxClockOffset accepted (0.1 %). */
export const MIN_CLOCK_OFFSET_LIMIT = 0.001;
/** Largest maxClockOffset accepted (10 %). */
export const MAX_CLOCK_OFFSET_LIMIT = 0.1;

/**
 * Options of {@link FskReceiver} (and of {@link decode}), validated in one place by the constructor: a bad one
 * throws `fsk.bad_input`, `fsk.bad_profile` or `fsk.bad_rate` naming it.
 */
export interface ReceiverOptions {
  /** Sample rate of the pushed samples: a whole number of Hz in 8000 .. 192000. */
  sampleRate: number;
  /** Profiles to listen for (default: all that the rate can carry). */
  profiles?: readonly FskProfileName[];
  /** Chirp detection threshold on rho^2, in (0, 1] (default 0.08). Lower values cost CPU on noise. */
  threshold?: number;
  /** Largest clock offset searched, as a fraction in [0.001, 0.1] (default 0.02 = 2 %). */
  maxClockOffset?: number;
  /** Called for every event as it happens (in addition to push()'s return value). */
  onEvent?: (e: ReceiverEvent) => void;
}

/**
 * How one frame was received (spec/fsk.md §7): where, how long, estimated clock offset and SNR, and how much
 * the Reed-Solomon decoder had to correct. For tuning and field diagnostics; not part of the verdict.
 */
export interface FrameDiagnostics {
  /** The FSK profile the frame was sent with. */
  profile: FskProfileName;
  /** Sample index (since the receiver started) of the preamble start. */
  startSample: number;
  /** Received frame length in samples. */
  lengthSamples: number;
  /** Symbol rows in the frame (spec/fsk.md §5). */
  rows: number;
  /** Estimated clock offset: the capture is compressed in time by (1 + eps); in parts per million. */
  clockOffsetPpm: number;
  /** Full-band SNR estimated from the chirp correlations, dB. */
  snrDb: number;
  /** Chosen-tone energy over the mean of the other tones of its group, dB (in-band quality). */
  toneSnrDb: number;
  /**
   * Signal level of the frame, dBFS, noise excluded: of the preamble and postamble chirp windows, the larger
   * share of a window's energy that correlates with its chirp (rho^2 = S / (S + N), as for `snrDb`) times that
   * energy, per sample (spec/fsk.md §7, diagnostics). It falls with the phone's distance from the microphone (about 6 dB
   * each time the distance doubles), which a gate uses to take only the phone held at its own reading spot
   * (`offpay reader listen --min-level`, spec/reader.md §17.2). -999 if it cannot be measured.
   */
  levelDbfs: number;
  /** Normalised correlation (rho^2, 0..1) of the preamble chirp. */
  preambleScore: number;
  /** Normalised correlation (rho^2, 0..1) of the postamble chirp. */
  postambleScore: number;
  /** Byte errors in the hard decisions before Reed-Solomon (over all codewords). */
  byteErrors: number;
  /** Bytes changed by the Reed-Solomon decoder. */
  bytesCorrected: number;
  /** Erasures used by the successful GMD attempt (sum over codewords). */
  erasures: number;
  /** Reed-Solomon codewords in the frame. */
  codewords: number;
}

/**
 * One received frame: its payload (one segment of a message), the profile, which segment of how many, and
 * its diagnostics.
 */
export interface FskFrame {
  /** The frame's payload bytes (CRC checked). */
  payload: Uint8Array;
  /** The FSK profile it was sent with. */
  profile: FskProfileName;
  /** Segment index (from 0) and segment count of the message it belongs to. */
  segment: {
    /** This frame's segment index, from 0. */
    index: number;
    /** Number of segments in the message (1 .. 8). */
    count: number;
  };
  /** How it was received. */
  diagnostics: FrameDiagnostics;
}

/**
 * What an {@link FskReceiver} reports, in stream order: a `preamble` detected (position in samples since start),
 * a `frame` decoded, a whole `message` reassembled from its segments, or a `failure` with its stable
 * `fsk.*` code (spec/fsk.md §11), e.g. `fsk.rs_failed`, `fsk.crc_mismatch`, `fsk.no_postamble`.
 */
export type ReceiverEvent =
  | {
      /** A preamble chirp was detected. */
      type: 'preamble';
      /** The chirp family heard (audible or ultrasonic band). */
      family: string;
      /** Sample index of the chirp in the stream. */
      position: number;
      /** Normalised correlation, rho^2 in 0..1. */
      score: number;
      /** Estimated SNR of the chirp, dB. */
      snrDb: number;
    }
  | {
      /** A frame decoded. */
      type: 'frame';
      /** The frame and its diagnostics. */
      frame: FskFrame;
    }
  | {
      /** A whole message reassembled from its frames. */
      type: 'message';
      /** The message bytes. */
      payload: Uint8Array;
      /** The FSK profile it was sent with. */
      profile: FskProfileName;
      /** How many frames (segments) carried it. */
      segments: number;
      /** The lowest `levelDbfs` of its frames (spec/fsk.md §7): how loud the quietest part of it was heard. */
      levelDbfs: number;
    }
  | {
      /** A frame was heard but not decoded. */
      type: 'failure';
      /** The `fsk.*` error code (spec/fsk.md §11). */
      code: ErrorCodeOf<'fsk'>;
      /** A sentence for people. */
      reason: string;
      /** Sample index where the frame started. */
      position: number;
      /** The FSK profile, when known. */
      profile?: FskProfileName;
      /** Structured details (offsets, counts). */
      detail?: Record<string, unknown>;
    };

/**
 * The input level meter of an {@link FskReceiver}: RMS and peak in dBFS, and counts of samples, clipped
 * samples (|x| >= 1) and non-finite samples (dropped as 0).
 */
export interface InputLevel {
  /** RMS level over roughly the last 0.3 s, dBFS (-Infinity for silence). */
  rmsDbfs: number;
  /** Largest absolute sample seen in the last push, dBFS. */
  peakDbfs: number;
  /** RMS level over everything pushed so far, dBFS. */
  overallRmsDbfs: number;
  /** Samples pushed so far. */
  samples: number;
  /** Samples at or beyond full scale. */
  clippedSamples: number;
  /** NaN or infinite samples (treated as 0). */
  nonFiniteSamples: number;
}


/** Options after validation (the one place where ReceiverOptions are checked). */
interface ResolvedOptions {
  sampleRate: number;
  profiles: (typeof FSK_PROFILES)[number][];
  threshold: number;
  maxClockOffset: number;
  onEvent: ((e: ReceiverEvent) => void) | undefined;
}

/**
 * The schema of {@link ReceiverOptions} (validated by the {@link FskReceiver} constructor, {@link decode} and
 * {@link decodeMessage}): a bad rate is `fsk.bad_rate`, a bad profile list `fsk.bad_profile`, anything else
 * (an unknown key, threshold, maxClockOffset, onEvent) `fsk.bad_input`, each naming the option.
 */
export const RECEIVER_OPTIONS_SCHEMA: OptionsSchema = {
  sampleRate: { type: 'integer', min: MIN_RATE, max: MAX_RATE, unit: 'Hz', required: true, code: 'fsk.bad_rate' },
  profiles: { type: 'array', items: { type: 'enum', values: FSK_PROFILE_NAMES }, maxLength: 16, code: 'fsk.bad_profile' },
  threshold: { type: 'number', min: 0, exclusiveMin: true, max: 1 },
  // Not below 0.1 %: the coarse offset of a real pair is never exactly 0 (one sample of timing moves it by up to
  // 1,300 ppm for short ultrasonic frames, spec/fsk.md §7.2 step 4), so 0 decoded nothing at all.
  maxClockOffset: { type: 'number', min: MIN_CLOCK_OFFSET_LIMIT, max: MAX_CLOCK_OFFSET_LIMIT },
  onEvent: { type: 'function' },
};

/** `RECEIVER_OPTIONS_SCHEMA` without sampleRate: the options of the deprecated `decode(samples, rate, options)`. */
const RATE_LESS_SCHEMA: OptionsSchema = Object.fromEntries(Object.entries(RECEIVER_OPTIONS_SCHEMA).filter(([k]) => k !== 'sampleRate'));

function resolveOptions(options: ReceiverOptions, name = 'receiver options'): ResolvedOptions {
  validateOptions<ReceiverOptions>(name, options, RECEIVER_OPTIONS_SCHEMA, 'fsk.bad_input');
  const rate = options.sampleRate;
  const names = options.profiles ?? FSK_PROFILE_NAMES;
  const enabled = FSK_PROFILES.filter((p) => names.includes(p.name) && p.chirpHighHz + 200 < rate / 2);
  if (enabled.length === 0) {
    throw new OffpayError('fsk.bad_rate', `no requested profile can be received at ${rate} Hz (the chirps need a higher Nyquist frequency)`, { option: `${name}.sampleRate` });
  }
  return {
    sampleRate: rate,
    profiles: enabled,
    threshold: options.threshold ?? DEFAULT_THRESHOLD,
    maxClockOffset: options.maxClockOffset ?? DEFAULT_MAX_CLOCK_OFFSET,
    onEvent: options.onEvent,
  };
}

/**
 * The receiver options of decode()/decodeMessage(), from the options form `(samples, { sampleRate, ... })` or
 * the deprecated form `(samples, sampleRate, options?)`.
 */
function decodeOptions(name: string, rateOrOptions: ReceiverOptions | number, rest: unknown): ReceiverOptions {
  if (typeof rateOrOptions !== 'number') {
    if (rest !== undefined) throw new OffpayError('fsk.bad_input', `${name}: give the options as one object, { sampleRate, ... }`, { option: name });
    return rateOrOptions;
  }
  const o = validateOptions<Omit<ReceiverOptions, 'sampleRate'>>(name, rest, RATE_LESS_SCHEMA, 'fsk.bad_input');
  return { ...o, sampleRate: rateOrOptions };
}

/**
 * The streaming FSK receiver (spec/fsk.md §7, informative; the waveform of §3-6 is normative): push samples in
 * chunks of any size, get {@link ReceiverEvent}s as frames and messages complete. Failure is an event with a
 * code, not an exception; only bad options or non-array input throw (`fsk.bad_input`, `fsk.bad_profile`,
 * `fsk.bad_rate`).
 *
 * @example
 * ```ts
 * import { FskReceiver } from 'offpay/fsk';
 * const rx = new FskReceiver({ sampleRate: 48000 });
 * for (const chunk of microphoneChunks) {
 *   for (const e of rx.push(chunk)) if (e.type === 'message') handleToken(e.payload);
 * }
 * for (const e of rx.flush()) if (e.type === 'message') handleToken(e.payload);   // end of stream
 * ```
 */
export class FskReceiver {
  /** Sample rate of the pushed samples, Hz. */
  readonly sampleRate: number;
  private readonly onEvent: ((e: ReceiverEvent) => void) | undefined;
  private readonly detector: ChirpDetector;
  private readonly input: InputBuffer;
  /** One demodulator per enabled profile. */
  private readonly demodulators = new Map<FskProfileName, ToneDemodulator>();
  /** One OFDM demodulator per enabled OFDM profile (turbo, spec/fsk.md §14). */
  private readonly ofdm = new Map<FskProfileName, OfdmDemodulator>();
  private readonly reassembler = new MessageReassembler();
  /** Events of the current push / flush. */
  private events: ReceiverEvent[] = [];
  private readonly sink: DetectorSink<FskFrame>;
  private readonly consumer: HistoryConsumer;

  constructor(options: ReceiverOptions) {
    const o = resolveOptions(options);
    this.sampleRate = o.sampleRate;
    this.onEvent = o.onEvent;
    this.detector = new ChirpDetector({ sampleRate: o.sampleRate, profiles: o.profiles, threshold: o.threshold, maxClockOffset: o.maxClockOffset });
    this.input = new InputBuffer(o.sampleRate, this.detector.sampleBuffer, this.detector.historySamples, this.detector.leadSamples);
    for (const p of o.profiles) {
      if (p.modulation === 'ofdm-qpsk') this.ofdm.set(p.name, new OfdmDemodulator(p, o.sampleRate));
      else this.demodulators.set(p.name, new ToneDemodulator(p, o.sampleRate));
    }
    const detector = this.detector;
    this.consumer = {
      drain: () => this.process(false),
      get oldestNeeded() {
        return detector.oldestNeeded;
      },
    };
    this.sink = {
      preamble: (family, peak) => this.emit({
        type: 'preamble', family, position: Math.round(peak.position), score: round3(peak.score), snrDb: roundDb(snrFromScore(peak.score)),
      }),
      decode: (sync) => this.decodeSync(sync),
      frame: (frame) => {
        this.emit({ type: 'frame', frame });
        const message = this.reassembler.push(frame);
        if (message) this.emit({ type: 'message', payload: message.payload, profile: message.profile, segments: message.segments, levelDbfs: message.levelDbfs ?? -999 });
      },
      failure: (best, pre) => this.emit({
        type: 'failure', code: best.code, reason: best.reason, position: Math.round(pre.position),
        ...(best.profile ? { profile: best.profile } : {}), ...(best.detail ? { detail: best.detail } : {}),
      }),
      expired: (family, pre) => this.emit({
        type: 'failure', code: 'fsk.no_postamble', reason: 'a preamble was heard but no matching postamble followed',
        position: Math.round(pre.position), detail: { family, preambleScore: round3(pre.score) },
      }),
    };
  }

  /** Current input level and counters. */
  level(): InputLevel {
    return this.input.level();
  }

  /** Feed samples (any chunk size). Returns the events produced by this chunk. */
  push(samples: ArrayLike<number>): ReceiverEvent[] {
    this.events = [];
    if (!samples || typeof samples.length !== 'number') throw new OffpayError('fsk.bad_input', 'samples must be an array of numbers');
    this.input.append(samples, this.consumer);
    this.process(false);
    return this.events;
  }

  /** End of stream: process everything buffered (as if followed by silence) and report pending preambles. */
  flush(): ReceiverEvent[] {
    this.events = [];
    this.input.appendSilence(this.detector.fftSize + this.detector.chirpSamples, this.consumer);
    this.process(true);
    return this.events;
  }

  /**
   * Back to the state after construction: empty history (position 0 is the next pushed sample), level meter
   * zeroed, no pending preamble, no partial message. Nothing is emitted for what is dropped.
   */
  reset(): void {
    this.input.reset();
    this.detector.reset();
    for (const d of this.demodulators.values()) d.reset();
    for (const d of this.ofdm.values()) d.reset();
    this.reassembler.reset();
    this.events = [];
  }

  private emit(e: ReceiverEvent): void {
    this.events.push(e);
    this.onEvent?.(e);
  }

  private process(final: boolean): void {
    this.detector.process(this.input, final, this.sink);
  }

  /** Demodulate and decode one synchronised candidate: plain energies first, then reverberation metrics. */
  private decodeSync(sync: FrameSync): { frame: FskFrame } | SyncFailure {
    const { profile: p, rows, start: P, eps } = sync;
    const rate = this.sampleRate;
    const layout = layoutForRows(p, rows);
    if (!layout) return { rank: 1, code: 'fsk.bad_header', reason: 'impossible frame layout', profile: p.name };
    if (P - this.input.firstPosition < 0) return { rank: 1, code: 'fsk.truncated', reason: 'the frame start is no longer buffered', profile: p.name };
    const ofdm = this.ofdm.get(p.name);
    const { soft, decoded } = ofdm ? decodeOfdm(ofdm, this.input, p, layout, rows, P, eps) : this.decodeTones(p, layout, rows, P, eps);
    if (tracing()) {
      trace({
        t: 'decode', profile: p.name, rows, result: 'failure' in decoded ? decoded.failure : 'ok', byteErrors: decoded.byteErrors,
        corrected: decoded.corrected, erasures: decoded.erasures, toneSnrDb: soft.toneSnrDb,
      });
    }
    const diag: FrameDiagnostics = {
      profile: p.name,
      // (+ 0 turns the -0 of a frame at sample 0 into 0.)
      startSample: Math.round(P) + 0,
      lengthSamples: Math.round(((sync.spacingSamples + p.chirpDuration * rate) / (1 + eps))),
      rows,
      clockOffsetPpm: Math.round(eps * 1e6),
      snrDb: roundDb(snrFromScore((sync.preambleScore + sync.postambleScore) / 2)),
      toneSnrDb: roundDb(soft.toneSnrDb),
      levelDbfs: signalLevelDbfs(this.input, sync, p.chirpDuration * rate),
      preambleScore: round3(sync.preambleScore),
      postambleScore: round3(sync.postambleScore),
      byteErrors: decoded.byteErrors,
      bytesCorrected: decoded.corrected,
      erasures: decoded.erasures,
      codewords: layout.blockLengths.length,
    };
    if ('failure' in decoded) {
      return { rank: decoded.rank, code: decoded.failure, reason: decoded.reason, profile: p.name, detail: { ...diag } };
    }
    return { frame: { payload: decoded.payload, profile: p.name, segment: decoded.segment, diagnostics: diag } };
  }

  /** MFSK: plain energies first, the reverberation metrics only when they do not decode. */
  private decodeTones(p: FskProfile, layout: BlockLayout, rows: number, P: number, eps: number): { soft: SoftBytes; decoded: SlotDecode } {
    const demod = this.demodulators.get(p.name)!;
    const E = demod.energies(this.input, rows, P, eps);
    let soft = demod.decisions(rows, E, E);
    let decoded = decodeSlots(p, layout, soft.bytes, soft.conf);
    if (tracing()) traceAttempt(0, decoded, soft.toneSnrDb);
    // Reverberation-aware metrics are tried only when the plain energies do not decode.
    if ('failure' in decoded) {
      let m = 0;
      for (const metric of demod.reverbMetrics(rows, E)) {
        const d2 = demod.decisions(rows, E, metric);
        const r2 = decodeSlots(p, layout, d2.bytes, d2.conf);
        if (tracing()) traceAttempt(++m, r2, d2.toneSnrDb);
        if (!('failure' in r2) || r2.rank > (decoded as { rank: number }).rank) {
          soft = d2;
          decoded = r2;
        }
        if (!('failure' in r2)) break;
      }
    }
    return { soft, decoded };
  }
}

/** turbo (spec/fsk.md §14.6): each of the OFDM demodulator's decisions in turn until one decodes. */
function decodeOfdm(
  ofdm: OfdmDemodulator, input: InputBuffer, p: FskProfile, layout: BlockLayout, rows: number, P: number, eps: number,
): { soft: SoftBytes; decoded: SlotDecode } {
  const tries = ofdm.attempts(input, rows, P, eps);
  let soft = tries[0]!;
  let decoded = decodeSlots(p, layout, soft.bytes, soft.conf);
  if (tracing()) traceAttempt(0, decoded, soft.toneSnrDb);
  for (let m = 1; m < tries.length && 'failure' in decoded; m++) {
    const r2 = decodeSlots(p, layout, tries[m]!.bytes, tries[m]!.conf);
    if (tracing()) traceAttempt(m, r2, tries[m]!.toneSnrDb);
    if (!('failure' in r2) || r2.rank > (decoded as { rank: number }).rank) {
      soft = { ...tries[m]!, toneSnrDb: soft.toneSnrDb };
      decoded = r2;
    }
  }
  return { soft, decoded };
}

/**
 * A frame's signal level without the noise (FrameDiagnostics.levelDbfs, spec/fsk.md §7): over the two chirp
 * windows (N_c = chirp duration x rate / (1 + eps) samples each, at the refined preamble start n_0 and at n_0 +
 * Delta_R / (1 + eps)), with E the window's sum of x^2 and rho^2 = S / (S + N) its refined score (spec/fsk.md
 * §7 step 5: rho^2 E / N_c is the chirp's own power), 10 log10(max(rho_pre^2 E_pre, rho_post^2 E_post) / N_c),
 * rounded to 0.1 dB; -999 when that is not a finite number (nothing measured). The larger of the two: a
 * refinement that missed its chirp (a low score, the frame still decoded) only lowers its own estimate.
 */
function signalLevelDbfs(input: InputBuffer, sync: FrameSync, chirpSamples: number): number {
  const n = chirpSamples / (1 + sync.eps);
  const pre = input.energy(sync.start, n);
  const post = input.energy(sync.start + sync.spacingSamples / (1 + sync.eps), n);
  const db = 10 * Math.log10(Math.max(sync.preambleScore * pre, sync.postambleScore * post) / Math.round(n));
  return Number.isFinite(db) ? roundDb(db) : -999;
}

function traceAttempt(metric: number, d: SlotDecode, toneSnrDb: number): void {
  trace({
    t: 'attempt', metric, result: 'failure' in d ? d.failure : 'ok', byteErrors: d.byteErrors, corrected: d.corrected, erasures: d.erasures, toneSnrDb,
  });
}

/** Full-band SNR (dB) from a chirp score: rho^2 / (1 - rho^2), rho^2 capped below 1. */
function snrFromScore(score: number): number {
  const s = Math.min(score, 0.999999);
  return 10 * Math.log10(s / (1 - s));
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The result of {@link decode}: every reassembled message, every frame, every event and the input level. */
export interface DecodeResult {
  /** Reassembled payloads, in order. */
  messages: Uint8Array[];
  /** Every frame decoded. */
  frames: FskFrame[];
  /** Every event, in order. */
  events: ReceiverEvent[];
  /** The input level over the whole capture. */
  level: InputLevel;
}

/**
 * One-shot decode of a whole capture: `decode(samples, { sampleRate: 48000 })`. Never throws for bad audio;
 * throws OffpayError for bad options (see `RECEIVER_OPTIONS_SCHEMA`).
 */
export function decode(samples: ArrayLike<number>, options: ReceiverOptions): DecodeResult;
/** @deprecated Give the options as one object: `decode(samples, { sampleRate, ...options })`. This form goes in the next release. */
export function decode(samples: ArrayLike<number>, sampleRate: number, options?: Omit<ReceiverOptions, 'sampleRate'>): DecodeResult;
export function decode(samples: ArrayLike<number>, rateOrOptions: ReceiverOptions | number, rest?: Omit<ReceiverOptions, 'sampleRate'>): DecodeResult {
  return decodeAll(samples, decodeOptions('decode options', rateOrOptions, rest), 'decode options');
}

function decodeAll(samples: ArrayLike<number>, options: ReceiverOptions, name: string): DecodeResult {
  resolveOptions(options, name); // validated here too, so that an error names this function's options
  const rx = new FskReceiver(options);
  const events = [...rx.push(samples), ...rx.flush()];
  const frames: FskFrame[] = [];
  const messages: Uint8Array[] = [];
  for (const e of events) {
    if (e.type === 'frame') frames.push(e.frame);
    if (e.type === 'message') messages.push(e.payload);
  }
  return { messages, frames, events, level: rx.level() };
}

/** The result of {@link decodeMessage}: the first message's bytes, and the whole decode. */
export interface DecodedMessage {
  /** The first reassembled message. */
  payload: Uint8Array;
  /** Everything the decode saw: every message, frame, event and the input level. */
  result: DecodeResult;
}

/**
 * Decode exactly one message, `decodeMessage(samples, { sampleRate: 48000 })`, or throw an OffpayError saying
 * why not: fsk.no_signal (silence or empty), fsk.no_preamble, or the failure of the best frame candidate
 * (fsk.no_postamble, fsk.rs_failed, ...); bad options as `RECEIVER_OPTIONS_SCHEMA` says.
 */
export function decodeMessage(samples: ArrayLike<number>, options: ReceiverOptions): DecodedMessage;
/** @deprecated Give the options as one object: `decodeMessage(samples, { sampleRate, ...options })`. This form goes in the next release. */
export function decodeMessage(samples: ArrayLike<number>, sampleRate: number, options?: Omit<ReceiverOptions, 'sampleRate'>): DecodedMessage;
export function decodeMessage(samples: ArrayLike<number>, rateOrOptions: ReceiverOptions | number, rest?: Omit<ReceiverOptions, 'sampleRate'>): DecodedMessage {
  const result = decodeAll(samples, decodeOptions('decodeMessage options', rateOrOptions, rest), 'decodeMessage options');
  const first = result.messages[0];
  if (first) return { payload: first, result };
  const failures = result.events.filter((e): e is Extract<ReceiverEvent, { type: 'failure' }> => e.type === 'failure');
  const rank = (c: string) => ['fsk.crc_mismatch', 'fsk.bad_header', 'fsk.bad_version', 'fsk.rs_failed', 'fsk.truncated', 'fsk.busy', 'fsk.no_postamble'].indexOf(c);
  failures.sort((a, b) => (rank(a.code) < 0 ? 99 : rank(a.code)) - (rank(b.code) < 0 ? 99 : rank(b.code)));
  const f = failures[0];
  if (f) throw new OffpayError(f.code, f.reason, { position: f.position, ...(f.detail ?? {}) });
  if (result.level.samples === 0 || result.level.overallRmsDbfs < -120) {
    throw new OffpayError('fsk.no_signal', 'the audio is empty or silent', { level: result.level });
  }
  throw new OffpayError('fsk.no_preamble', 'no preamble chirp was found', { level: result.level });
}
