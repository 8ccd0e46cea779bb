/**
 * The listen loop (spec/reader.md §17): raw PCM bytes in, events out.
 *
 *   bytes --PcmDecoder--> blocks of <= 8192 samples --FskReceiver (every profile)--> frame / message /
 *   failure events --> each message judged by the durable Reader --> one printed event each
 *
 * Order and durability: events are handled in the order the receiver produced them; a message is judged
 * with `Reader.accept`, which commits the verdict and its state before it returns, and only then is the
 * verdict printed (invariant I10). `stop()` asks the loop to end between decisions: the decision under way
 * completes and is printed, nothing after it is judged.
 *
 * Memory: the decoder's scratch block, the receiver's ring buffer (bounded by its longest frame) and the
 * events of one input chunk (a few per second of audio at most) are all this holds; nothing grows with time.
 */
import { PcmDecoder, type PcmFormat } from '../../../codecs/fsk/pcm.js';
import { FskReceiver, type ReceiverEvent } from '../../../codecs/fsk/index.js';
import { chirpFamilyKey } from '../../../codecs/fsk/detector.js';
import { getProfile } from '../../../codecs/fsk/profiles.js';
import type { AcceptContext, Reader } from '../../reader/reader.js';
import { toHex } from '../../../base/hex.js';
import { tokenHash } from '../../messages.js';
import { verdictFields, type Counts, type Judged, type ListenEvent, type Usage } from './events.js';

export interface SessionOptions {
  reader: Reader;
  /**
   * The reader to judge the next token with, asked before each decision (default: `reader`): `reader listen`
   * reopens it when another process stored a new issuer key set in the database (reader sync).
   */
  current?: () => Reader;
  rate: number;
  format: PcmFormat;
  channels: number;
  judge: Judged;
  /** Mark each sale complete in the same transaction (nothing left to dispense). */
  complete: boolean;
  /** The reader time for a decision made `audioSeconds` into the stream. */
  clock: (audioSeconds: number) => number;
  /** Print a stats event every this many seconds of audio (0: never). */
  statsEvery: number;
  /**
   * Judge only messages heard at this signal level or louder, dBFS (the message's `levelDbfs`, spec/fsk.md §7):
   * a quieter one is an `ignored` event, not judged and not recorded (spec/reader.md §17.2). Undefined: every
   * message is judged.
   */
  minLevelDbfs?: number;
  /** Where events go (already durable when called). */
  write: (e: ListenEvent) => void;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** A failure code is printed at most once in this many seconds of audio (spec/reader.md §17.4). */
export const FAILURE_LINE_SECONDS = 1;

/** The chirp family of a receiver failure: its detail's `family`, else its profile's, else undefined. */
function failureFamily(e: Extract<ReceiverEvent, { type: 'failure' }>): string | undefined {
  const f = e.detail?.family;
  if (typeof f === 'string') return f;
  const p = e.profile ? getProfile(e.profile) : undefined;
  return p ? chirpFamilyKey(p) : undefined;
}

export function usage(): Usage {
  const m = process.memoryUsage();
  const c = process.cpuUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, cpuUserMicros: c.user, cpuSystemMicros: c.system };
}

export class ListenSession {
  readonly counts: Counts = { frames: 0, messages: 0, failures: 0, accepted: 0, resumed: 0, refused: 0, ignored: 0 };
  private readonly rx: FskReceiver;
  private readonly pcm: PcmDecoder;
  /** Events of the current input chunk, each with the stream position (samples) it was produced at. */
  private queue: { e: ReceiverEvent; at: number }[] = [];
  private samples = 0;
  private nextStats: number;
  private stopping = false;
  /** Per failure code: where its last line was printed (samples) and the failures of it not printed since. */
  private readonly lastFailure = new Map<string, { atSamples: number; suppressed: number }>();

  constructor(private readonly o: SessionOptions) {
    this.pcm = new PcmDecoder({ format: o.format, channels: o.channels });
    this.rx = new FskReceiver({ sampleRate: o.rate });
    this.nextStats = o.statsEvery > 0 ? o.statsEvery * o.rate : Infinity;
  }

  /** Seconds of audio heard so far. */
  get audioSeconds(): number {
    return this.samples / this.o.rate;
  }

  stop(): void {
    this.stopping = true;
  }

  /** Feed raw PCM bytes (any length; an incomplete frame is carried to the next call), then handle the events. */
  async push(bytes: Uint8Array): Promise<void> {
    this.pcm.push(bytes, (block) => {
      for (const e of this.rx.push(block)) this.queue.push({ e, at: this.samples + block.length });
      this.samples += block.length;
    });
    await this.drain();
  }

  /** End of input: the receiver decodes what it holds (as if followed by silence); those events are handled. */
  async flush(): Promise<void> {
    for (const e of this.rx.flush()) this.queue.push({ e, at: this.samples });
    await this.drain();
  }

  private async drain(): Promise<void> {
    const q = this.queue;
    this.queue = [];
    for (const { e, at } of q) {
      if (this.stopping) break;
      await this.handle(e, at);
    }
    while (this.samples >= this.nextStats) {
      this.o.write({ event: 'stats', at: round3(this.nextStats / this.o.rate), level: this.level(), ...this.counts, ...usage() });
      this.nextStats += this.o.statsEvery * this.o.rate;
    }
  }

  private level(): { rmsDbfs: number; peakDbfs: number; clippedSamples: number; nonFiniteSamples: number } {
    const l = this.rx.level();
    // -Infinity (digital silence) is not JSON: reported as null by JSON.stringify; keep it a number.
    const fin = (x: number) => (Number.isFinite(x) ? x : -999);
    return { rmsDbfs: fin(l.rmsDbfs), peakDbfs: fin(l.peakDbfs), clippedSamples: l.clippedSamples, nonFiniteSamples: l.nonFiniteSamples };
  }

  private async handle(e: ReceiverEvent, atSamples: number): Promise<void> {
    const at = round3(atSamples / this.o.rate);
    if (e.type === 'frame') {
      const d = e.frame.diagnostics;
      this.counts.frames++;
      this.o.write({
        event: 'frame', at, profile: e.frame.profile, bytes: e.frame.payload.length, segment: e.frame.segment.index, segments: e.frame.segment.count,
        snrDb: d.snrDb, toneSnrDb: d.toneSnrDb, levelDbfs: d.levelDbfs, clockOffsetPpm: d.clockOffsetPpm, byteErrors: d.byteErrors, bytesCorrected: d.bytesCorrected, erasures: d.erasures,
      });
    } else if (e.type === 'failure') {
      this.counts.failures++;
      // One line a code and chirp family a FAILURE_LINE_SECONDS of audio at most (hostile sound can make dozens of
      // failures a second, and the process runs for days): the ones not printed are counted on the next line of
      // that code and family. By family, so that a flood in one band does not hide a failing phone in the other.
      const family = failureFamily(e);
      const key = `${e.code} ${family ?? ''}`;
      const prev = this.lastFailure.get(key);
      if (prev && atSamples - prev.atSamples < FAILURE_LINE_SECONDS * this.o.rate) {
        prev.suppressed++;
        return;
      }
      const postambles = e.detail?.postambles;
      this.o.write({
        event: 'failure', at, code: e.code, reason: e.reason, ...(e.profile ? { profile: e.profile } : {}), ...(family ? { family } : {}),
        ...(typeof postambles === 'number' ? { postambles } : {}), ...(prev?.suppressed ? { suppressed: prev.suppressed } : {}),
      });
      this.lastFailure.set(key, { atSamples, suppressed: 0 });
    } else if (e.type === 'message') {
      this.counts.messages++;
      const min = this.o.minLevelDbfs;
      if (min !== undefined && !(e.levelDbfs >= min)) {
        // Heard, but quieter than a phone at this gate's reading spot: a phone at the next gate, say (spec/reader.md
        // §7.3 point 3). Not judged, so nothing is recorded and nothing opens; another gate may take it.
        this.counts.ignored++;
        this.o.write({ event: 'ignored', at, fsk: e.profile, reason: 'too_quiet', levelDbfs: e.levelDbfs, minLevelDbfs: min, tokenHash: toHex(tokenHash(e.payload)) });
        return;
      }
      const t = this.o.clock(atSamples / this.o.rate);
      const j = this.o.judge;
      const ctx: AcceptContext = {
        now: t,
        ...(this.o.complete ? { complete: true } : {}),
        ...(j.mode === 'fare' ? { fare: { amount: j.amount, currency: j.currency } } : {}),
        ...(j.mode === 'tap_in' ? { tapIn: { maxFare: j.maxFare, currency: j.currency } } : {}),
      };
      // Committed before it returns (spec/reader.md §1 Atomicity); a typed error (the reader cannot judge:
      // certificate expired, damaged database) ends the process with exit 2, nothing recorded for this token.
      const v = await (this.o.current?.() ?? this.o.reader).accept(e.payload, ctx);
      if (!v.accepted) this.counts.refused++;
      else if (v.status === 'resumed') this.counts.resumed++;
      else this.counts.accepted++;
      this.o.write({ event: 'verdict', at, t, fsk: e.profile, ...verdictFields(v, j) });
    }
    // 'preamble' events are not printed: a chirp alone is not news (a failure follows if no frame does).
  }
}
