/**
 * offpay playground, reader page (/reader?fare=2.00&currency=HKD for a gate, ?amount=12.50&currency=HKD for
 * a vending machine). Bundled by scripts/build-web.mjs into dist/web/reader.js.
 *
 * Audio path (nothing decoded on the main thread):
 *   getUserMedia (echoCancellation, noiseSuppression, autoGainControl OFF; what was granted is shown)
 *   -> MediaStreamAudioSourceNode -> AudioWorklet 'offpay-playground-capture' (batches, level)
 *   -> MessageChannel -> Worker decoder-worker.js (FskReceiver, every profile)
 *   -> page: Reader.accept (WebCrypto Ed25519) -> IndexedDbReaderStore.flush() -> verdict shown.
 * After each token: document.body.dataset.verdict = 'accepted' | 'rejected:REASON' (for tests), and
 * dataset.verdicts counts them.
 */
import { parseAmount, parseCurrency, formatMoney, type Currency } from '../src/currency.js';
import { webCryptoEd25519 } from '../src/crypto.js';
import { decodeIssuerKeySet, decodeReaderCert } from '../src/messages.js';
import { encodePaymentCode, formatPaymentCode, paymentCodeChallenge } from '../src/paycode.js';
import { IndexedDbReaderStore } from '../src/reader/indexeddb.js';
import { Reader, type AcceptContext, type ReaderVerdict } from '../src/reader/reader.js';
import { hex } from '../src/reader/hex.js';
import type { FrameDiagnostics } from '../codecs/fsk/receive.js';
import { $, fromHex, fetchSetup, showError } from './common.js';
import { startSpectrogram } from './spectrogram.js';

type Mode = { kind: 'gate'; fare: number; currency: Currency } | { kind: 'vending'; amount: number; currency: Currency };

function modeFromUrl(params: URLSearchParams): Mode {
  const currency = parseCurrency(params.get('currency') ?? 'HKD');
  const fare = params.get('fare');
  const amount = params.get('amount');
  if (fare !== null && amount !== null) throw new Error('give either ?fare= (a gate) or ?amount= (a vending machine), not both');
  if (amount !== null) return { kind: 'vending', amount: parseAmount(amount, currency), currency };
  return { kind: 'gate', fare: parseAmount(fare ?? '2.00', currency), currency };
}

async function openStore(name: string): Promise<{ store: IndexedDbReaderStore; created: boolean }> {
  try {
    return { store: await IndexedDbReaderStore.open(name, { mode: 'open' }), created: false };
  } catch (e) {
    if ((e as { code?: string }).code !== 'reader.store_missing') throw e;
    return { store: await IndexedDbReaderStore.open(name, { mode: 'create' }), created: true };
  }
}

function showVerdict(v: ReaderVerdict): void {
  const box = $('verdict');
  const count = Number(document.body.dataset.verdicts ?? '0') + 1;
  if (v.accepted) {
    box.className = 'verdict accepted';
    box.textContent = `PAID ${formatMoney(v.amount, v.currency)}`;
    $('detail').textContent = `${v.status}: wallet ${hex(v.walletId).slice(0, 8)}…, counter ${v.counter}, journal entry ${v.seq}`;
    document.body.dataset.verdict = 'accepted';
  } else {
    box.className = 'verdict rejected';
    box.textContent = `REFUSED: ${v.reason}`;
    $('detail').textContent = v.message;
    document.body.dataset.verdict = `rejected:${v.reason}`;
  }
  document.body.dataset.verdicts = String(count);
}

function showFrame(d: FrameDiagnostics): void {
  $('frame').textContent = `${d.profile}: SNR ${d.snrDb.toFixed(1)} dB (tones ${d.toneSnrDb.toFixed(1)} dB), clock offset ${Math.round(d.clockOffsetPpm)} ppm, ${d.bytesCorrected} bytes corrected of ${d.byteErrors} byte errors, ${d.rows} rows`;
}

async function main(): Promise<void> {
  const mode = modeFromUrl(new URLSearchParams(location.search));
  const setup = await fetchSetup();
  const info = setup.readers.find((r) => r.name === mode.kind)!;
  const issuerKeys = decodeIssuerKeySet(fromHex(setup.issuerKeys));
  const cert = decodeReaderCert(fromHex(info.cert));
  // One database per reader certificate: the demo issuer is new each time the server starts.
  const dbName = `offpay-reader-${info.readerId}-${info.cert.slice(-32)}`;
  const { store, created } = await openStore(dbName);
  const reader = new Reader({ cert, secretKey: fromHex(info.secretKey), issuerKeys, store, asyncVerifier: webCryptoEd25519() });
  try {
    reader.loadBlocklist(fromHex(setup.blocklist));
  } catch (e) {
    // An older list than the one this reader holds (a second tab): keep the held one.
    if ((e as { code?: string }).code !== 'blocklist.old_version') throw e;
  }
  await store.flush();
  const showStore = () =>
    ($('store').textContent = `replay state: IndexedDB "${dbName}" (${created ? 'new journal this load' : 'reopened'}, ${store.journal(1).length} journal entries)`);
  showStore();
  $('title').textContent = mode.kind === 'gate' ? `Gate ${info.readerId}` : `Vending machine ${info.readerId}`;
  $('what').textContent = mode.kind === 'gate' ? `Fare ${formatMoney(mode.fare, mode.currency.numeric)}` : `Pay ${formatMoney(mode.amount, mode.currency.numeric)}`;

  let showRequest: (reuse?: boolean) => Promise<void> = async () => undefined;
  if (mode.kind === 'vending') {
    showRequest = async (reuse = false) => {
      // A reload keeps showing the open request if it is unpaid and for the same price (a customer may be
      // paying it right now); otherwise, and after every sale, a new request with a payment-code challenge.
      const held = reuse ? reader.openRequestInfo() : undefined;
      const keep = held && held.paymentCode !== undefined && !held.paidBy && held.request.amount === mode.amount && held.request.currency === mode.currency.numeric;
      const challenge = keep ? held.request.challenge : paymentCodeChallenge();
      // Opened as a payment-code request (rule P, spec/protocol.md §4.3): a token for it signs the fixed code time,
      // so a signed-request QR code would not be payable here; the page shows the code to key in.
      if (!keep) reader.openRequest({ amount: mode.amount, currency: mode.currency.numeric, challenge, code: true });
      await store.flush();
      document.getElementById('requestQr')?.remove();
      $('payment-code').textContent = formatPaymentCode(encodePaymentCode({ payee: info.readerId, amount: mode.amount, challenge }));
      $('requestBox').hidden = false;
    };
    await showRequest(true);
  }

  // Tokens are judged one at a time, in the order heard: the verdict shows only once it is durable.
  let chain = Promise.resolve();
  const judge = (payload: Uint8Array) => {
    chain = chain.then(async () => {
      const ctx: AcceptContext = mode.kind === 'gate' ? { fare: { amount: mode.fare, currency: mode.currency.numeric }, complete: true } : { complete: true };
      const v = await reader.accept(payload, ctx);
      await store.flush();
      showVerdict(v);
      showStore();
      if (v.accepted && mode.kind === 'vending') await showRequest(); // sale done (completed): the next customer's request
    }).catch((e: unknown) => showError(e));
  };

  const start = async () => {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
    });
    const track = stream.getAudioTracks()[0]!;
    const s = track.getSettings();
    $('granted').textContent = `${track.label || 'microphone'}: echoCancellation ${String(s.echoCancellation)}, noiseSuppression ${String(s.noiseSuppression)}, autoGainControl ${String(s.autoGainControl)}, ${s.sampleRate ?? '?'} Hz, ${s.channelCount ?? '?'} ch`;
    const ctx = new AudioContext();
    await ctx.audioWorklet.addModule('/web/capture-worklet.js');
    const node = new AudioWorkletNode(ctx, 'offpay-playground-capture', { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { batch: 2048 } });
    const worker = new Worker('/web/decoder-worker.js');
    const channel = new MessageChannel();
    node.port.postMessage({ type: 'port', port: channel.port1 }, [channel.port1]);
    worker.postMessage({ type: 'init', sampleRate: ctx.sampleRate, port: channel.port2 }, [channel.port2]);
    worker.onmessage = (m: MessageEvent) => {
      const d = m.data as { type: string; [k: string]: unknown };
      if (d.type === 'frame') showFrame(d.diagnostics as FrameDiagnostics);
      else if (d.type === 'failure') $('frame').textContent = `heard a frame but could not decode it: ${String(d.code)} (${String(d.reason)})`;
      else if (d.type === 'message') judge(d.payload as Uint8Array);
      else if (d.type === 'error') showError(new Error(String(d.message)));
      else if (d.type === 'ready') document.body.dataset.listening = String(d.sampleRate);
      else if (d.type === 'load') {
        $('cpu').textContent = `decoder (Worker, every profile): ${(100 * Number(d.share)).toFixed(2)} % of one core (overall ${(100 * Number(d.overall)).toFixed(2)} % over ${Number(d.seconds).toFixed(0)} s)`;
        document.body.dataset.decoderLoad = String(d.overall);
      }
    };
    node.port.onmessage = (m: MessageEvent) => {
      const d = m.data as { type: string; rmsDbfs: number; peakDbfs: number };
      if (d.type !== 'level') return;
      ($('level') as HTMLMeterElement).value = Math.max(-90, d.rmsDbfs);
      $('levelText').textContent = `${d.rmsDbfs.toFixed(1)} dBFS RMS, peak ${d.peakDbfs.toFixed(1)} dBFS`;
    };
    const mic = ctx.createMediaStreamSource(stream);
    mic.connect(node);
    startSpectrogram(ctx, mic, $('spectrogram') as HTMLCanvasElement);
    node.connect(ctx.destination); // pulls the graph; the processor's output is silent
    if (ctx.state === 'suspended') {
      // The browser wants a click before audio runs (autoplay policy).
      $('start').hidden = false;
      $('start').onclick = () => void ctx.resume().then(() => ($('start').hidden = true), showError);
    }
  };
  // A kiosk starts listening by itself.
  await start();
}

main().catch(showError);
