/**
 * `offpay reader listen`: a vending machine's or gate's process that listens for days (spec/reader.md §17).
 * Raw PCM from stdin (or arecord), every FSK profile, every token heard judged by the durable reader, one
 * printed event per frame, verdict and failure. The loop is src/cli/listen/session.ts; the event formats
 * src/cli/listen/events.ts; PCM parsing codecs/fsk/pcm.ts; the audio source src/node/audio-source.ts.
 */
import { toHex } from '../../../base/hex.js';
import { parseAmount, parseCurrency } from '../../currency.js';
import { OffpayError } from '../../../base/errors.js';
import { writeFileDurable } from '../../node/durable.js';
import type { Reader } from '../../reader/reader.js';
import { parseNow, parseUint } from '../common.js';
import { EXIT_OK, EXIT_USAGE, UsageError, type Command, type CommandContext } from '../framework.js';
import type { Judged, ListenEvent } from '../listen/events.js';

/** The lowest --min-level accepted, dBFS (a frame's level is measured to about -120 dBFS and below). */
const MIN_LEVEL_DBFS = -120;

/** Everything the listen loop needs from the command line, validated in one place. */
interface ListenSettings {
  source: { kind: 'stdin' } | { kind: 'device'; name: string };
  rate: number;
  format: 's16le' | 'f32le';
  channels: number;
  /** Fixed clock start (--now): the reader time at the first sample, advancing with the audio. */
  now0: number | undefined;
  statsEvery: number;
  complete: boolean;
  requestOut: string | undefined;
  /** --min-level: judge only messages heard at this signal level or louder, dBFS. */
  minLevelDbfs: number | undefined;
}

async function settingsOf(ctx: CommandContext): Promise<ListenSettings> {
  const { parsePcmFormat, MAX_PCM_CHANNELS } = await import('../../../codecs/fsk/pcm.js');
  const { checkRate } = await import('../../../codecs/fsk/modulate.js');
  const stdin = ctx.flag('stdin');
  const device = ctx.opt('device');
  if (stdin === (device !== undefined)) throw new UsageError('give exactly one of --stdin (raw PCM on standard input) and --device NAME (ALSA capture with arecord)');
  const rateS = ctx.opt('rate') ?? '48000';
  if (!/^\d{1,6}$/.test(rateS)) throw new OffpayError('fsk.bad_rate', `--rate: '${rateS}' is not a sample rate in Hz`);
  const rate = Number(rateS);
  checkRate(rate);
  const format = parsePcmFormat(ctx.opt('format') ?? 's16le');
  if (device !== undefined && format !== 's16le') throw new UsageError('--device captures 16-bit PCM (arecord -f S16_LE); --format is for --stdin');
  const channels = parseUint('channels', ctx.opt('channels'), MAX_PCM_CHANNELS) ?? 1;
  if (channels < 1) throw new OffpayError('pcm.bad_channels', `--channels must be 1 to ${MAX_PCM_CHANNELS}`);
  if (device !== undefined && channels !== 1) throw new UsageError('--device captures one channel (arecord -c 1); --channels is for --stdin');
  const statsEvery = parseUint('stats', ctx.opt('stats'), 86_400 * 365) ?? 0;
  const minLevel = ctx.opt('min-level');
  if (minLevel !== undefined && (!/^-?\d{1,3}(\.\d)?$/.test(minLevel) || Number(minLevel) < MIN_LEVEL_DBFS || Number(minLevel) > 0)) {
    throw new OffpayError('listen.bad_level', `--min-level: '${minLevel}' is not a level in dBFS from ${MIN_LEVEL_DBFS} to 0 (one decimal at most, such as -35 or -32.5)`);
  }
  return {
    source: device !== undefined ? { kind: 'device', name: device } : { kind: 'stdin' },
    rate,
    format,
    channels,
    now0: ctx.opt('now') !== undefined ? parseNow(ctx.opt('now')) : undefined,
    statsEvery,
    complete: ctx.flag('complete'),
    requestOut: ctx.opt('request-out'),
    // (+ 0: "-0" is 0.)
    minLevelDbfs: minLevel !== undefined ? Number(minLevel) + 0 : undefined,
  };
}

/** What each token is judged against, from the reader's profile and --amount / --fare / --tap-in. */
function judgedOf(ctx: CommandContext, reader: Reader): { judge: Judged; open?: { amount: number; currency: number } } {
  const cur = parseCurrency(ctx.opt('currency') ?? 'HKD');
  const amount = ctx.opt('amount');
  const fare = ctx.opt('fare');
  const tapIn = ctx.opt('tap-in');
  if (reader.profile.requireRequest) {
    if (fare !== undefined || tapIn !== undefined) throw new UsageError('a vending reader judges tokens against its open request: give --amount to open one, or none to use the open request in the database; not --fare or --tap-in');
    if (amount === undefined) {
      if (ctx.opt('request-out') !== undefined) throw new UsageError('--request-out writes the request --amount opens');
      return { judge: { mode: 'request' } };
    }
    const a = parseAmount(amount, cur);
    if (a === 0) throw new UsageError('--amount must be more than zero');
    return { judge: { mode: 'request' }, open: { amount: a, currency: cur.numeric } };
  }
  if (amount !== undefined) throw new UsageError('a transit reader takes --fare AMOUNT (fixed fare) or --tap-in MAXFARE, not --amount');
  if (ctx.opt('request-out') !== undefined) throw new UsageError('--request-out is for a vending reader with --amount');
  if ((fare === undefined) === (tapIn === undefined)) throw new UsageError('a transit reader needs exactly one of --fare AMOUNT (fixed fare) and --tap-in MAXFARE');
  if (fare !== undefined) return { judge: { mode: 'fare', amount: parseAmount(fare, cur), currency: cur.numeric } };
  return { judge: { mode: 'tap_in', maxFare: parseAmount(tapIn!, cur), currency: cur.numeric } };
}

const KEYS = `JSON lines (--json), one object per event, keys stable (spec/reader.md §17.4); every line has "event" and
"at" (seconds of audio since start):
  start    readerId profile source rate format channels judge{mode,...} clock ("system"|"audio") t minLevelDbfs (null: none)
  request  challenge amount currency bytes [out]                (--amount opened this request)
  frame    profile bytes segment segments snrDb toneSnrDb levelDbfs clockOffsetPpm byteErrors bytesCorrected erasures
  ignored  fsk reason ("too_quiet") levelDbfs minLevelDbfs tokenHash   (heard below --min-level: not judged)
  verdict  t fsk accepted status ("accepted"|"resumed"|"tapped_out"|"refused")
           accepted: charged amount currency walletId counter journalSeq tokenHash [request{challenge,amount,currency}]
                     [fare{amount,currency}] [tapIn{maxFare,currency}]
           refused:  reason code message tokenHash [journalSeq]
  failure  code reason [profile] [suppressed]                   (a frame heard but not decoded; one line a code a second)
  stats    frames messages failures accepted resumed refused ignored rssBytes heapUsedBytes cpuUserMicros cpuSystemMicros
           level{rmsDbfs,peakDbfs,clippedSamples,nonFiniteSamples}        (every --stats seconds of audio)
  stop     reason ("end_of_input"|"SIGINT"|"SIGTERM") and the stats counters and usage`;

export const listen: Command = {
  name: 'reader listen',
  summary: 'listen to raw PCM (stdin or an ALSA device) for days: every FSK token heard is judged by the durable reader, one line per event',
  usage: '--reader READER --db READER.db [--issuer ISSUER] (--stdin [--rate 48000] [--format s16le|f32le] [--channels 1] | --device NAME [--rate 48000]) [--amount A [--request-out REQ] | --fare A | --tap-in MAX] [--currency C] [--complete] [--min-level DBFS] [--stats SECONDS] [--now TIME]',
  options: {
    reader: { type: 'string', arg: 'READER', help: 'reader directory (offpay reader new)' },
    db: { type: 'string', arg: 'READER.db', help: 'reader database (created by offpay reader init; never recreated)' },
    issuer: { type: 'string', arg: 'ISSUER', help: 'issuer directory or keyset.cbor (replaces the key set stored in the database)' },
    policy: { type: 'string', arg: 'FILE', help: 'reader policy JSON (default READER/policy.json if present)' },
    stdin: { type: 'boolean', help: 'read raw PCM from standard input (arecord -t raw ... | offpay reader listen --stdin)' },
    device: { type: 'string', arg: 'NAME', help: 'Linux: capture from this ALSA device with arecord -D NAME -f S16_LE -r RATE -c 1 -t raw (alsa-utils)' },
    rate: { type: 'string', arg: 'HZ', help: 'sample rate of the PCM, 8000..192000', default: '48000' },
    format: { type: 'string', arg: 'F', help: 's16le (signed 16-bit) or f32le (32-bit float), little-endian', default: 's16le' },
    channels: { type: 'string', arg: 'N', help: 'interleaved channels, mixed down to one (mean)', default: '1' },
    amount: { type: 'string', arg: 'AMOUNT', help: 'vending: open a request for this price at start (default: the open request in the database)' },
    'request-out': { type: 'string', arg: 'REQ', help: 'vending: write the request --amount opens (CBOR) for the screen or the wallet' },
    fare: { type: 'string', arg: 'AMOUNT', help: 'transit: the fixed fare' },
    'tap-in': { type: 'string', arg: 'MAX', help: 'transit: tap-in authorising this maximum fare' },
    currency: { type: 'string', arg: 'CODE', help: 'currency of --amount, --fare or --tap-in', default: 'HKD' },
    complete: { type: 'boolean', help: 'mark each sale complete at once (nothing left to dispense)' },
    'min-level': { type: 'string', arg: 'DBFS', negative: true, help: 'judge only tokens heard at this signal level or louder (-120..0 dBFS; see the frame lines\' level of a phone at the reading spot): a quieter one is a phone at another gate, ignored (default: any level)' },
    stats: { type: 'string', arg: 'SECONDS', help: 'print a stats event (counts, RSS, heap, CPU time) every SECONDS of audio (default never)' },
    now: { type: 'string', arg: 'TIME', help: 'the reader clock at the first sample, then advancing with the audio (default: the system clock at each decision)' },
  },
  details: `Every verdict is committed (SQLite WAL, synchronous=FULL) before its line is printed. SIGINT or SIGTERM:
reading stops, the decision under way completes and is printed, the database is closed, exit 0. The end of
a finite input: the receiver decodes what it holds, those tokens are judged, exit 0. Exit 2: bad options,
a missing database, arecord missing (install alsa-utils) or failing, or the reader unable to judge (its
certificate not valid at the reader time, a damaged database): nothing is recorded for that token.
The same token heard again is judged again: RESUMED within the profile's resume window while its sale is
pending (and its request open), otherwise REFUSED (already_accepted, replayed): a replayed recording never
vends twice. Audio is untrusted: odd byte counts are carried to the next read, non-finite floats count as 0.

${KEYS}`,
  async run(ctx) {
    const s = await settingsOf(ctx);
    const { openReader } = await import('../reader-open.js');
    const startNow = s.now0 ?? Math.floor(Date.now() / 1000);
    const { reader, store } = openReader(ctx, startNow);
    const clock = s.now0 !== undefined ? (sec: number) => s.now0! + Math.floor(sec) : () => Math.floor(Date.now() / 1000);
    let eventLineOf: ((e: ListenEvent) => string) | undefined;
    // JSON lines are a stream of documents, not the one document ctx.emit writes: written straight to stdout.
    const write = ctx.json ? (e: ListenEvent) => void process.stdout.write(JSON.stringify(e) + '\n') : (e: ListenEvent) => ctx.out(eventLineOf!(e));
    let stopReason: 'SIGINT' | 'SIGTERM' | undefined;
    let source: import('../../node/audio-source.js').AudioSource | undefined;
    let session: import('../listen/session.js').ListenSession | undefined;
    const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
      if (stopReason) return; // already stopping: the decision under way finishes first
      stopReason = sig;
      session?.stop();
      source?.close();
    };
    const onInt = () => onSignal('SIGINT');
    const onTerm = () => onSignal('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    try {
      const { judge, open } = judgedOf(ctx, reader);
      if (startNow < reader.cert.notBefore || startNow > reader.cert.notAfter) {
        throw new OffpayError('reader.cert_not_valid', `the certificate of reader ${reader.readerId} is valid ${reader.cert.notBefore}..${reader.cert.notAfter}, not at ${startNow}`);
      }
      const events = await import('../listen/events.js');
      eventLineOf = events.eventLine;
      const { ListenSession, usage } = await import('../listen/session.js');
      const src = await import('../../node/audio-source.js');
      source = s.source.kind === 'stdin' ? src.stdinSource() : src.arecordSource(s.source.name, s.rate);
      write({ event: 'start', at: 0, readerId: reader.readerId, profile: reader.profile.name, source: source.describe, rate: s.rate, format: s.format, channels: s.channels, judge, clock: s.now0 !== undefined ? 'audio' : 'system', t: startNow, minLevelDbfs: s.minLevelDbfs ?? null });
      if (judge.mode === 'tap_in' && s.minLevelDbfs === undefined && !ctx.json) {
        ctx.out('          (tap-ins are taken at any level: the next gate\'s phone may be heard here too and be taken as a second tap-in, which blocks its wallet; set --min-level, spec/reader.md §7.3 point 3)');
      }
      if (open) {
        const r = reader.openRequest({ ...open, now: startNow, unlessPaid: true });
        if (s.requestOut) writeFileDurable(s.requestOut, r.bytes);
        write({ event: 'request', at: 0, challenge: toHex(r.request.challenge), amount: r.request.amount, currency: r.request.currency, bytes: toHex(r.bytes), ...(s.requestOut ? { out: s.requestOut } : {}) });
      } else if (judge.mode === 'request' && !reader.openRequestInfo()) {
        ctx.out('          (no request is open: every token is refused with request_not_open until one is, e.g. offpay request --db)');
      }
      // Days of listening: another process may store a newer issuer key set in the database meanwhile (reader
      // sync, a key rotation). Before each decision the stored set is compared with the one this reader holds,
      // and the reader reopened with it when it changed. (A blocklist another process loads the reader takes by
      // itself: Reader re-reads the stored list's version in each decision.)
      const { META_KEYSET, readerWithKeys } = await import('../reader-open.js');
      const { decodeIssuerKeySet } = await import('../../messages.js');
      const { equalBytes } = await import('../../../base/bytes.js');
      let judging = reader;
      let heldKeys = store.transact((tx) => tx.getMeta(META_KEYSET))?.slice() ?? new Uint8Array(0); // the set the reader opened with
      const current = (): Reader => {
        const stored = store.transact((tx) => tx.getMeta(META_KEYSET));
        if (stored && !equalBytes(stored, heldKeys)) {
          judging = readerWithKeys(ctx, startNow, store, decodeIssuerKeySet(stored));
          heldKeys = stored.slice();
          if (!ctx.json) ctx.out('          (a new issuer key set was stored in the database: the reader judges with it from now on)');
        }
        return judging;
      };
      session = new ListenSession({ reader, current, rate: s.rate, format: s.format, channels: s.channels, judge, complete: s.complete, clock, statsEvery: s.statsEvery, write, ...(s.minLevelDbfs !== undefined ? { minLevelDbfs: s.minLevelDbfs } : {}) });
      if (stopReason) source.close();
      const it = source.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      for (;;) {
        if (stopReason) break;
        let r: IteratorResult<Buffer>;
        try {
          r = await it.next();
        } catch (e) {
          if (stopReason) break; // the stream was destroyed by the signal handler
          throw e;
        }
        if (r.done) break;
        await session.push(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength));
      }
      if (!stopReason) {
        await session.flush();
        await source.check();
      }
      write({ event: 'stop', at: Math.round(session.audioSeconds * 1000) / 1000, reason: stopReason ?? 'end_of_input', ...session.counts, ...usage() });
      return EXIT_OK;
    } catch (e) {
      if (ctx.json && e instanceof OffpayError) {
        // One JSON line, like every other event, then the framework's message on stderr and exit 2.
        process.stdout.write(JSON.stringify({ event: 'error', at: session ? Math.round(session.audioSeconds * 1000) / 1000 : 0, error: e.code, message: e.message }) + '\n');
        process.stderr.write(`offpay reader listen: ${e.message} [${e.code}]\n`);
        return EXIT_USAGE;
      }
      throw e;
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      source?.close();
      store.close();
    }
  },
};
