/**
 * offpay playground, reader page (/reader?fare=2.00&currency=HKD for a gate, ?amount=12.50&currency=HKD for
 * a vending machine). Bundled by scripts/build-web.mjs into dist/web/reader.js.
 *
 * Audio path (nothing decoded on the main thread):
 *   getUserMedia (echoCancellation, noiseSuppression, autoGainControl OFF; what was granted is shown)
 *   -> MediaStreamAudioSourceNode -> AudioWorklet 'offpay-playground-capture' (batches, level)
 *   -> MessageChannel -> Worker decoder-worker.js (FskReceiver, every profile)
 *   -> page: Reader.accept (WebCrypto Ed25519) -> IndexedDbReaderStore.flush() -> verdict shown.
 * Camera path (camera.ts, scanner-worker.ts): video frames, at most 15 a second and only while the scanner
 * Worker is idle, go as ImageBitmaps to the Worker running the QR scanner block; a token QR code that comes into
 * view is judged exactly as a token heard (same queue, same verdict line).
 * After each token: document.body.dataset.verdict = 'accepted' | 'rejected:REASON' (for tests), and
 * dataset.verdicts counts them; dataset.via says which transport brought it ('sound' | 'camera');
 * dataset.history holds the last 20 verdicts in order, space-separated.
 * An accepted token shows the reader's signed receipt (spec/protocol.md §10) and the sale's facts.
 */
import { parseAmount, parseCurrency, formatMoney, type Currency } from '../src/currency.js';
import { webCryptoEd25519 } from '../src/crypto.js';
import { decodeIssuerKeySet, decodeReaderCert } from '../src/messages.js';
import { encodePaymentCode, formatPaymentCode, paymentCodeChallenge } from '../src/paycode.js';
import { IndexedDbReaderStore } from '../src/reader/indexeddb.js';
import { Reader, type AcceptContext, type ReaderVerdict } from '../src/reader/reader.js';
import { fromHex, toHex as hex } from '../base/hex.js';
import { decodeReceipt } from '../src/messages.js';
import type { FrameDiagnostics } from '../codecs/fsk/receive.js';
import { CAPTURE_PROCESSOR_NAME } from '../codecs/fsk/webaudio.js';
import { encodeCode, loadQrEngine } from '../codecs/qr/index.js';
import { startCamera } from './camera.js';
import { $, fetchSetup, showError } from './common.js';
import { startSpectrogram } from './spectrogram.js';

/** How a vending request is shown: a 20-digit payment code (typed) or a signed-request QR code (scanned). */
type Via = 'code' | 'qr';
type Mode = { kind: 'gate'; fare: number; currency: Currency } | { kind: 'vending'; amount: number; currency: Currency; via: Via };
type Transport = 'sound' | 'camera';

/** Seconds before an unpaid request would be too old to pay that the vending page replaces it. */
const RENEW_MARGIN_S = 60;

function modeFromUrl(params: URLSearchParams): Mode {
  const currency = parseCurrency(params.get('currency') ?? 'HKD');
  const fare = params.get('fare');
  const amount = params.get('amount');
  if (fare !== null && amount !== null) throw new Error('give either ?fare= (a gate) or ?amount= (a vending machine), not both');
  const via = params.get('via') ?? 'code';
  if (via !== 'code' && via !== 'qr') throw new Error('?via= is code (a payment code) or qr (a signed-request QR code)');
  if (amount !== null) return { kind: 'vending', amount: parseAmount(amount, currency), currency, via };
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

function showVerdict(v: ReaderVerdict, via: Transport): void {
  const box = $('verdict');
  const count = Number(document.body.dataset.verdicts ?? '0') + 1;
  if (v.accepted) {
    box.className = 'verdict accepted';
    box.textContent = `PAID ${formatMoney(v.amount, v.currency)}`;
    $('detail').textContent = `${v.status} (by ${via}): wallet ${hex(v.walletId).slice(0, 8)}…, counter ${v.counter}, journal entry ${v.seq}`;
    document.body.dataset.verdict = 'accepted';
  } else {
    box.className = 'verdict rejected';
    box.textContent = `REFUSED: ${v.reason}`;
    $('detail').textContent = `(by ${via}) ${v.message}`;
    document.body.dataset.verdict = `rejected:${v.reason}`;
  }
  document.body.dataset.via = via;
  document.body.dataset.verdicts = String(count);
  // The last 20 verdicts in order, space-separated: a test under load may read after the next one arrived.
  const history = [...(document.body.dataset.history ?? '').split(' ').filter(Boolean), document.body.dataset.verdict];
  document.body.dataset.history = history.slice(-20).join(' ');
}

/**
 * The receipt of an accepted sale: the reader-signed receipt message (spec/protocol.md §10: reader id, token
 * hash, outcome, reason, time, signature) decoded back from its bytes, and beside it the sale's facts the
 * receipt does not carry (amount, currency, request). No transport here carries the receipt back to the wallet:
 * spec/qr.md defines QR kinds for tokens and requests only, so it is shown, with its bytes, and not encoded.
 * A refusal clears it (an old receipt must not stand beside a new refusal).
 */
function showReceipt(bytes: Uint8Array | undefined, v: ReaderVerdict, request: string | undefined): void {
  let box = document.getElementById('receipt');
  if (!box) {
    box = document.createElement('section');
    box.id = 'receipt';
    box.className = 'receipt';
    $('detail').after(box);
  }
  if (!bytes || !v.accepted) {
    box.hidden = true;
    box.replaceChildren();
    delete document.body.dataset.receipt;
    return;
  }
  const r = decodeReceipt(bytes);
  const when = new Date(r.time * 1000).toISOString().replace('T', ' ').slice(0, 19);
  const rows: [string, string][] = [
    ['amount', formatMoney(v.amount, v.currency)],
    ['reader', String(r.readerId)],
    ['time', `${when} UTC`],
    ['token', `${hex(r.tokenHash).slice(0, 16)}… (SHA-256)`],
    ['outcome', `${r.outcome}, reason ${r.reason}`],
    ...(request ? ([['request', request]] as [string, string][]) : []),
  ];
  const h = document.createElement('h2');
  h.textContent = 'Receipt';
  const dl = document.createElement('dl');
  for (const [k, val] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = val;
    dl.append(dt, dd);
  }
  const raw = document.createElement('p');
  raw.className = 'mono small';
  raw.textContent = `signed by reader ${r.readerId} (spec/protocol.md §10, ${bytes.length} bytes): ${hex(bytes)}`;
  box.replaceChildren(h, dl, raw);
  box.hidden = false;
  document.body.dataset.receipt = hex(bytes);
}

function showFrame(d: FrameDiagnostics): void {
  $('frame').textContent = `${d.profile}: SNR ${d.snrDb.toFixed(1)} dB (tones ${d.toneSnrDb.toFixed(1)} dB), clock offset ${Math.round(d.clockOffsetPpm)} ppm, ${d.bytesCorrected} bytes corrected of ${d.byteErrors} byte errors, ${d.rows} rows`;
}

async function main(): Promise<void> {
  const mode = modeFromUrl(new URLSearchParams(location.search));
  const setup = await fetchSetup();
  const info = setup.readers.find((r) => r.name === mode.kind);
  if (!info) throw new Error(`this playground serves no ${mode.kind === 'gate' ? 'transit reader (gate)' : 'vending reader'}: start it with a --reader of that profile`);
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
      const code = mode.via === 'code';
      const keep = held && (held.paymentCode !== undefined) === code && !held.paidBy && held.request.amount === mode.amount && held.request.currency === mode.currency.numeric;
      if (code) {
        const challenge = keep ? held.request.challenge : paymentCodeChallenge();
        // Opened as a payment-code request (rule P, spec/protocol.md §4.3): a token for it signs the fixed code time,
        // so a signed-request QR code would not be payable here; the page shows the code to key in.
        if (!keep) reader.openRequest({ amount: mode.amount, currency: mode.currency.numeric, challenge, code: true });
        await store.flush();
        document.getElementById('requestQr')?.remove();
        $('payment-code').textContent = formatPaymentCode(encodePaymentCode({ payee: info.readerId, amount: mode.amount, challenge }));
      } else {
        // A signed request (64-bit challenge, the reader's certificate and signature): the wallet scans it, checks
        // it against the issuer's keys and signs the request's own time (spec/protocol.md §4.3, invariant T1).
        const open = keep ? held : reader.openRequest({ amount: mode.amount, currency: mode.currency.numeric });
        await store.flush();
        const qr = await encodeCode(open.bytes, { kind: 'request' });
        const img = $('requestQr') as HTMLImageElement;
        const old = img.src;
        img.src = URL.createObjectURL(new Blob([qr.png.slice()], { type: 'image/png' }));
        if (old.startsWith('blob:')) URL.revokeObjectURL(old);
        img.alt = `payment request QR code: ${formatMoney(mode.amount, mode.currency.numeric)} to reader ${info.readerId}`;
        $('payment-code').className = 'mono small';
        $('payment-code').textContent = `scan with the wallet: QR version ${qr.qrVersion}, request of ${open.bytes.length} bytes`;
      }
      $('requestBox').hidden = false;
    };
    // The request near the verdict, above the camera and the microphone: what the customer looks at.
    document.querySelector('section.signal')?.before($('requestBox'));
    if (mode.via === 'qr') await loadQrEngine({ url: new URL('/web/zxing_full.wasm', location.href) });
    await showRequest(true);
  }

  // Tokens are judged one at a time, in the order heard: the verdict shows only once it is durable.
  let chain = Promise.resolve();
  const judge = (payload: Uint8Array, via: Transport) => {
    chain = chain.then(async () => {
      const ctx: AcceptContext = mode.kind === 'gate' ? { fare: { amount: mode.fare, currency: mode.currency.numeric }, complete: true } : { complete: true };
      const open = mode.kind === 'vending' ? reader.openRequestInfo() : undefined;
      const v = await reader.accept(payload, ctx);
      await store.flush();
      showVerdict(v, via);
      const request = open && v.accepted ? (open.paymentCode ? `payment code ${formatPaymentCode(open.paymentCode)}` : `signed request, challenge ${hex(open.request.challenge)}`) : mode.kind === 'gate' ? 'gate fare (no request)' : undefined;
      showReceipt(v.accepted ? reader.receipt(v) : undefined, v, request);
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
    // The library's capture processor (codecs/fsk/webaudio.ts), served as a file: the CSP forbids data: URLs.
    await ctx.audioWorklet.addModule('/web/capture-worklet.js');
    const node = new AudioWorkletNode(ctx, CAPTURE_PROCESSOR_NAME, { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { batch: 2048, level: true } });
    const worker = new Worker('/web/decoder-worker.js');
    const channel = new MessageChannel();
    node.port.postMessage({ type: 'port', port: channel.port1 }, [channel.port1]);
    worker.postMessage({ type: 'init', sampleRate: ctx.sampleRate, port: channel.port2 }, [channel.port2]);
    worker.onmessage = (m: MessageEvent) => {
      const d = m.data as { type: string; [k: string]: unknown };
      if (d.type === 'frame') showFrame(d.diagnostics as FrameDiagnostics);
      else if (d.type === 'failure') $('frame').textContent = `heard a frame but could not decode it: ${String(d.code)} (${String(d.reason)})`;
      else if (d.type === 'message') judge(d.payload as Uint8Array, 'sound');
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
  if (mode.kind === 'vending') {
    // An unpaid request is renewed RENEW_MARGIN_S before the reader would refuse a token for it as too old
    // (profile maxAgeSeconds, judged on the request's time), so the kiosk never shows a request nobody can pay.
    // Queued with the judgements, never between a token's verdict and its request's renewal.
    setInterval(() => {
      chain = chain.then(async () => {
        const held = reader.openRequestInfo();
        if (held && !held.paidBy && Math.floor(Date.now() / 1000) - held.request.time > reader.profile.maxAgeSeconds - RENEW_MARGIN_S) await showRequest();
      }).catch((e: unknown) => showError(e));
    }, 15_000);
  }

  // A kiosk starts its camera and listens by itself; each path fails on its own (a kiosk without a camera
  // still hears, and the reverse).
  startCamera({ parent: $('verdict').parentElement!, before: document.querySelector('section.signal'), expect: 'token', title: 'Camera', onCode: (_kind, payload) => judge(payload, 'camera') }).catch((e: unknown) => {
    document.getElementById('cameraText')!.textContent = `no camera: ${(e as Error).message}`;
    document.body.dataset.cameraError = (e as Error).message;
  });
  await start();
}

main().catch(showError);
