/**
 * The events of `offpay reader listen` as values, and their two printed forms: one JSON object per line
 * (`--json`; keys are stable, spec/reader.md §17.4) and one plain line each for a person watching the gate.
 * Every event has `event` (its kind) and `at` (seconds of audio since the process started, 3 decimals).
 */
import { toHex } from '../../../base/hex.js';
import { currencyByNumeric, formatMoney } from '../../currency.js';
import type { ReaderVerdict } from '../../reader/reader.js';

export interface Usage {
  rssBytes: number;
  heapUsedBytes: number;
  cpuUserMicros: number;
  cpuSystemMicros: number;
}

export interface Counts {
  frames: number;
  messages: number;
  failures: number;
  accepted: number;
  resumed: number;
  refused: number;
  /** Messages not judged because they were heard below `--min-level` (spec/reader.md §17.2). */
  ignored: number;
}

/** What a verdict was judged against: the open request (vending), a fixed fare, or a tap-in maximum. */
export type Judged = { mode: 'request' } | { mode: 'fare'; amount: number; currency: number } | { mode: 'tap_in'; maxFare: number; currency: number };

export type ListenEvent =
  | { event: 'start'; at: 0; readerId: number; profile: string; source: string; rate: number; format: string; channels: number; judge: Judged; clock: 'system' | 'audio'; t: number; minLevelDbfs: number | null }
  | { event: 'request'; at: number; challenge: string; amount: number; currency: number; bytes: string; out?: string }
  | { event: 'frame'; at: number; profile: string; bytes: number; segment: number; segments: number; snrDb: number; toneSnrDb: number; levelDbfs: number; clockOffsetPpm: number; byteErrors: number; bytesCorrected: number; erasures: number }
  | { event: 'ignored'; at: number; fsk: string; reason: 'too_quiet'; levelDbfs: number; minLevelDbfs: number; tokenHash: string }
  | ({ event: 'verdict'; at: number; t: number; fsk: string } & VerdictFields)
  | { event: 'failure'; at: number; code: string; reason: string; profile?: string; family?: string; postambles?: number; suppressed?: number }
  | ({ event: 'stats'; at: number; level: { rmsDbfs: number; peakDbfs: number; clippedSamples: number; nonFiniteSamples: number } } & Counts & Usage)
  | ({ event: 'stop'; at: number; reason: 'end_of_input' | 'SIGINT' | 'SIGTERM' } & Counts & Usage);

export type VerdictFields =
  | {
      accepted: true;
      status: 'accepted' | 'resumed' | 'tapped_out';
      charged: boolean;
      amount: number;
      currency: number;
      walletId: string;
      counter: number;
      journalSeq: number;
      tokenHash: string;
      request?: { challenge: string; amount: number; currency: number };
      fare?: { amount: number; currency: number };
      tapIn?: { maxFare: number; currency: number };
    }
  | { accepted: false; status: 'refused'; reason: string; code: number; message: string; tokenHash: string; journalSeq?: number };

export function verdictFields(v: ReaderVerdict, judged: Judged): VerdictFields {
  if (!v.accepted) {
    return { accepted: false, status: 'refused', reason: v.reason, code: v.code, message: v.message, tokenHash: toHex(v.tokenHash), ...(v.seq !== undefined ? { journalSeq: v.seq } : {}) };
  }
  return {
    accepted: true,
    status: v.status,
    charged: v.charged,
    amount: v.amount,
    currency: v.currency,
    walletId: toHex(v.walletId),
    counter: v.counter,
    journalSeq: v.seq,
    tokenHash: toHex(v.tokenHash),
    ...(v.request ? { request: { challenge: toHex(v.request.challenge), amount: v.request.amount, currency: v.request.currency } } : {}),
    ...(judged.mode === 'fare' ? { fare: { amount: judged.amount, currency: judged.currency } } : {}),
    ...(judged.mode === 'tap_in' ? { tapIn: { maxFare: judged.maxFare, currency: judged.currency } } : {}),
  };
}

function money(amount: number, currency: number): string {
  return currencyByNumeric(currency) ? formatMoney(amount, currency) : `${amount} (currency ${currency})`;
}

const sign = (x: number) => (x >= 0 ? `+${x}` : String(x));
const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function judgedText(j: Judged): string {
  if (j.mode === 'request') return 'the open request';
  if (j.mode === 'fare') return `a fixed fare of ${money(j.amount, j.currency)}`;
  return `tap-in up to ${money(j.maxFare, j.currency)}`;
}

/** The plain line for a person; says plainly whether to vend / open the gate (ACCEPTED, RESUMED) or not. */
export function eventLine(e: ListenEvent): string {
  const at = `${e.at.toFixed(3).padStart(10)} s  `;
  switch (e.event) {
    case 'start':
      return `${at}listening: reader ${e.readerId} (${e.profile}) on ${e.source}, ${e.rate} Hz ${e.format} x${e.channels}, every FSK profile; judging against ${judgedText(e.judge)}; clock ${e.clock === 'audio' ? `${e.t} + audio time` : 'system'}; ${e.minLevelDbfs === null ? 'tokens heard at any level' : `tokens heard at ${e.minLevelDbfs} dBFS or louder`}`;
    case 'request':
      return `${at}request ${e.challenge} for ${money(e.amount, e.currency)} is now the open request${e.out ? ` (written to ${e.out})` : ''}`;
    case 'frame':
      return `${at}frame: ${e.profile}, ${e.bytes} bytes (segment ${e.segment + 1}/${e.segments}), SNR ${e.snrDb} dB (tone ${e.toneSnrDb} dB), level ${e.levelDbfs} dBFS, clock ${sign(e.clockOffsetPpm)} ppm, ${e.bytesCorrected} bytes corrected`;
    case 'verdict': {
      if (!e.accepted) return `${at}REFUSED ${e.reason} (${e.code}): ${e.message}`;
      const what = e.status === 'resumed' ? 'RESUMED (the same sale, paid before and still pending: vend it now, not charged again)' : 'ACCEPTED, charged';
      const why = e.request ? ` for request ${e.request.challenge} (${money(e.request.amount, e.request.currency)})` : e.fare ? ' fare' : e.tapIn ? ` tap-in (maximum fare ${money(e.tapIn.maxFare, e.tapIn.currency)})` : '';
      return `${at}${what} ${money(e.amount, e.currency)}${why} from wallet ${e.walletId} counter ${e.counter} (journal entry ${e.journalSeq})`;
    }
    case 'ignored':
      return `${at}IGNORED (too quiet: not judged, nothing recorded): token ${e.tokenHash} heard at ${e.levelDbfs} dBFS, below --min-level ${e.minLevelDbfs} dBFS (a phone at another gate?)`;
    case 'failure':
      return (
        `${at}frame failed: ${e.code}${e.profile ? ` (${e.profile})` : e.family ? ` (chirp family ${e.family})` : ''}: ${e.reason}` +
        `${e.postambles ? ` (${e.postambles} postamble${e.postambles === 1 ? '' : 's'} not tried since the last such report)` : ''}` +
        `${e.suppressed ? ` (and ${e.suppressed} more since the last such line)` : ''}`
      );
    case 'stats':
      return `${at}stats: ${e.frames} frames, ${e.accepted} accepted, ${e.resumed} resumed, ${e.refused} refused, ${e.ignored} ignored, ${e.failures} failed frames; input ${e.level.rmsDbfs} dBFS RMS; RSS ${mb(e.rssBytes)}, heap ${mb(e.heapUsedBytes)}, CPU ${((e.cpuUserMicros + e.cpuSystemMicros) / 1e6).toFixed(2)} s`;
    case 'stop':
      return `${at}stopped (${e.reason === 'end_of_input' ? 'end of input' : e.reason}): ${e.frames} frames, ${e.accepted} accepted, ${e.resumed} resumed, ${e.refused} refused, ${e.ignored} ignored, ${e.failures} failed frames`;
  }
}

/** The JSON line (no spaces, one object). */
export function eventJson(e: ListenEvent): string {
  return JSON.stringify(e);
}
