/**
 * offpay playground, wallet page (/wallet, the phone). Bundled into dist/web/wallet.js.
 *
 * The wallet's secret key, its certificate (issued by the demo issuer through /api/wallet-cert) and its
 * counter live in IndexedDB ('offpay-wallet'). The counter is reserved in ONE readwrite IndexedDB
 * transaction (read, step, write; durability 'strict') before a token is signed, so a reload never reuses a
 * counter. A certificate from another issuer (the server restarted with a new demo issuer) is replaced; the
 * counter stays (it belongs to the key), and a missing counter refuses to pay.
 * Pays a reader's request scanned with the camera (the signed-request QR code, checked against the issuer's
 * keys), a pasted payment code, or a gate's fare, over sound with a chosen FSK profile, or shows the token as a
 * QR code. The camera frames are scanned in a Worker (camera.ts, scanner-worker.ts), as on the reader page.
 */
import { parseAmount, currencyByNumeric, formatMoney } from '../src/currency.js';
import { publicKeyOf, randomSecretKey } from '../src/crypto.js';
import { decodeIssuerKeySet, decodeWalletCert, walletIdOf, type PaymentRequest, type WalletCert } from '../src/messages.js';
import { verifyRequest } from '../src/verify.js';
import { decodePaymentCode } from '../src/paycode.js';
import { fromHex, toHex as hex } from '../base/hex.js';
import { OffpayError } from '../base/errors.js';
import { Wallet, type CounterState, type CounterStore } from '../src/wallet.js';
import { FSK_PROFILE_NAMES, type FskProfileName } from '../codecs/fsk/profiles.js';
import { playPayload } from '../codecs/fsk/webaudio.js';
import { encodeCode, loadQrEngine } from '../codecs/qr/index.js';
import { startCamera, type Camera } from './camera.js';
import { $, fetchSetup, showError } from './common.js';

const DB = 'offpay-wallet';
const KV = 'kv';

function idb<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function openDb(): Promise<IDBDatabase> {
  const open = indexedDB.open(DB, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(KV);
  return idb(open);
}

/**
 * The wallet counter in IndexedDB: reserve() is one readwrite transaction. A missing state is
 * `wallet.counter_missing`, never a fresh counter 0 (spec/protocol.md §9.4, W3): the state is written with the key
 * (loadWallet), so a key without one has lost it, and starting again at 1 would sign used counters again.
 */
class IdbCounterStore implements CounterStore {
  constructor(private readonly db: IDBDatabase) {}
  async load(): Promise<CounterState> {
    return present((await idb(this.db.transaction(KV).objectStore(KV).get('counter'))) as CounterState | undefined);
  }
  reserve(step: (current: CounterState) => CounterState): Promise<CounterState> {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(KV, 'readwrite', { durability: 'strict' });
      const kv = tx.objectStore(KV);
      let next: CounterState;
      const get = kv.get('counter');
      get.onsuccess = () => {
        try {
          next = step(present(get.result as CounterState | undefined));
          kv.put(next, 'counter');
        } catch (e) {
          tx.abort();
          reject(e);
        }
      };
      tx.oncomplete = () => resolve(next);
      tx.onerror = () => reject(tx.error);
    });
  }
}

function present(s: CounterState | undefined): CounterState {
  if (!s) throw new OffpayError('wallet.counter_missing', "this wallet's counter is missing from the browser's storage: it will not pay, because starting again at counter 1 would reuse counters and get the wallet blocked (clear the site's data to start a new wallet with a new key)");
  return s;
}

async function loadWallet(db: IDBDatabase, issuerKeysHex: string): Promise<{ wallet: Wallet; cert: WalletCert }> {
  const kv = () => db.transaction(KV, 'readwrite').objectStore(KV);
  let sk = (await idb(kv().get('secretKey'))) as Uint8Array | undefined;
  if (!sk) {
    // A new key and its counter 0, in one transaction: a key is never stored without its counter.
    sk = randomSecretKey();
    const tx = db.transaction(KV, 'readwrite', { durability: 'strict' });
    tx.objectStore(KV).put(sk, 'secretKey');
    tx.objectStore(KV).put({ counter: 0, spent: 0 }, 'counter');
    await done(tx);
  }
  let certHex = (await idb(kv().get('cert'))) as string | undefined;
  if (!certHex || (await idb(kv().get('issuerKeys'))) !== issuerKeysHex) {
    const r = await fetch('/api/wallet-cert', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ publicKey: hex(publicKeyOf(sk)) }) });
    // The server explains a refusal (a real issuer without --issue-wallets: 403 playground.no_wallet_certs).
    if (!r.ok) throw new Error(((await r.json().catch(() => undefined)) as { message?: string } | undefined)?.message ?? `/api/wallet-cert: HTTP ${r.status}`);
    const fresh = ((await r.json()) as { cert: string }).cert;
    // A new certificate for the same key keeps the counter: it belongs to the key, and starting it again signs
    // used counters (spec/protocol.md §9.1). The running total starts again only for a certificate with another
    // id (the first 16 bytes of its issuer signature; readers keep their totals by it). A key stored by an earlier
    // page without its counter never had a certificate, so never paid: its counter starts at 0.
    const tx = db.transaction(KV, 'readwrite', { durability: 'strict' });
    const store = tx.objectStore(KV);
    const held = (await idb(store.get('counter'))) as CounterState | undefined;
    if (!held && certHex) {
      tx.abort();
      present(held);
    }
    const sameId = certHex !== undefined && certIdHex(certHex) === certIdHex(fresh);
    store.put(fresh, 'cert');
    store.put(issuerKeysHex, 'issuerKeys');
    store.put(held ? { ...held, spent: sameId ? held.spent : 0 } : { counter: 0, spent: 0 }, 'counter');
    await done(tx);
    certHex = fresh;
  }
  const cert = decodeWalletCert(fromHex(certHex));
  return { wallet: new Wallet({ secretKey: sk, cert, counter: new IdbCounterStore(db) }), cert };
}

/** A wallet certificate's id (spec/reader.md §1): the first 16 bytes of its issuer signature, in hex. */
function certIdHex(certHex: string): string {
  return hex(decodeWalletCert(fromHex(certHex)).issuerSignature.subarray(0, 16));
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise<void>((res, rej) => {
    tx.oncomplete = () => res();
    tx.onerror = () => rej(tx.error);
    tx.onabort = () => rej(tx.error ?? new Error('the IndexedDB transaction was aborted'));
  });
}

async function main(): Promise<void> {
  const setup = await fetchSetup();
  const issuerKeys = decodeIssuerKeySet(fromHex(setup.issuerKeys));
  const gate = setup.readers.find((r) => r.name === 'gate');
  const db = await openDb();
  const { wallet, cert } = await loadWallet(db, setup.issuerKeys);
  const currency = currencyByNumeric(cert.currency)!;
  const showIdentity = async () => {
    const counter = await new IdbCounterStore(db).load();
    $('identity').textContent = `wallet ${hex(walletIdOf(cert.walletPublicKey)).slice(0, 16)}…, ${currency.alpha}, up to ${formatMoney(cert.maxPerPayment, cert.currency)} a payment, ${formatMoney(cert.offlineAllowance - counter.spent, cert.currency)} left offline; counter ${counter.counter}`;
  };
  await showIdentity();
  const select = $('profile') as HTMLSelectElement;
  for (const p of FSK_PROFILE_NAMES) select.append(new Option(p, p, p === 'fast', p === 'fast'));
  await loadQrEngine({ url: new URL('/web/zxing_full.wasm', location.href) });

  const status = (s: string) => ($('status').textContent = s);
  // The scanned request: verified (reader certificate by the issuer, request signature, age) before it is shown,
  // paid at most once, dropped when the person types a code or a fare instead.
  let pending: { bytes: Uint8Array; request: PaymentRequest } | undefined;
  const scanButton = document.createElement('button');
  scanButton.id = 'scan';
  scanButton.type = 'button';
  scanButton.textContent = "Scan the reader's QR code";
  const requestLine = document.createElement('p');
  requestLine.id = 'request';
  requestLine.className = 'request-line';
  const firstLabel = $('payment-code').closest('label')!;
  firstLabel.before(scanButton, requestLine);
  const showPending = () => {
    if (!pending) {
      requestLine.textContent = '';
      delete document.body.dataset.request;
      return;
    }
    const r = pending.request;
    requestLine.textContent = `Reader ${r.readerCert.readerId} (operator ${r.readerCert.operatorId}) asks ${formatMoney(r.amount, r.currency)}: signed request checked, challenge ${hex(r.challenge)}`;
    document.body.dataset.request = `${r.readerCert.readerId}:${r.amount}:${r.currency}`;
  };
  let camera: Camera | undefined;
  const stopCamera = () => {
    camera?.stop();
    camera = undefined;
    scanButton.textContent = "Scan the reader's QR code";
  };
  const onRequest = (bytes: Uint8Array) => {
    const v = verifyRequest(bytes, { issuerKeys, now: Math.floor(Date.now() / 1000) });
    if (!v.accepted) {
      status(`request refused: ${v.reason} (${v.message})`);
      return;
    }
    pending = { bytes, request: v.request };
    ($('payment-code') as HTMLInputElement).value = '';
    ($('fare') as HTMLInputElement).value = '';
    showPending();
    status('request read: pay it by sound or as a QR code');
    stopCamera();
  };
  scanButton.onclick = () => {
    if (camera) return stopCamera();
    scanButton.textContent = 'Stop the camera';
    startCamera({ parent: $('status').parentElement!, before: $('status'), expect: 'request', title: 'Camera', onCode: (_k, payload) => onRequest(payload) }).then(
      (c) => (camera = c),
      (e: unknown) => {
        scanButton.textContent = "Scan the reader's QR code";
        showError(e);
      },
    );
  };
  for (const id of ['payment-code', 'fare']) {
    $(id).addEventListener('input', () => {
      pending = undefined;
      showPending();
    });
  }

  const makeToken = async (): Promise<Uint8Array> => {
    if (pending) {
      const held = pending;
      pending = undefined; // one request, one payment: a second press makes no second token for it
      showPending();
      try {
        return await wallet.pay(held.bytes, { issuerKeys }); // checks the request again, signs its time (spec/protocol.md §4.3)
      } catch (e) {
        pending = held; // no token was made (limits, an expired request): the person may still see why and retry
        showPending();
        throw e;
      }
    }
    const code = ($('payment-code') as HTMLInputElement).value.replace(/\s+/g, '');
    const fare = ($('fare') as HTMLInputElement).value.trim();
    if (code) {
      const p = decodePaymentCode(code);
      return wallet.payCode(p); // rule P: a code carries no time, the token signs PAYMENT_CODE_SIGNED_TIME (spec/protocol.md §4.3)
    }
    if (fare && !gate) throw new Error('this playground serves no gate to pay a fare to');
    if (fare) return wallet.payTo({ payee: gate!.readerId, amount: parseAmount(fare, currency) });
    throw new Error("scan the reader's QR code, enter the payment code it shows, or a gate fare");
  };
  const makeTokenShown = async (): Promise<Uint8Array> => {
    const t = await makeToken();
    await showIdentity();
    return t;
  };
  $('paySound').onclick = () =>
    void makeTokenShown().then(async (token) => {
      const ctx = new AudioContext();
      const src = playPayload(ctx, token, { profile: select.value as FskProfileName });
      status(`playing ${token.length} bytes over sound (${select.value}, ${src.buffer!.duration.toFixed(2)} s)…`);
      src.onended = () => {
        status(`played ${token.length}-byte token; the reader shows its verdict`);
        void ctx.close();
      };
    }, showError);
  $('payQr').onclick = () =>
    void makeTokenShown().then(async (token) => {
      const code = await encodeCode(token, { kind: 'token' });
      const img = $('tokenQr') as HTMLImageElement;
      img.src = URL.createObjectURL(new Blob([code.png.slice()], { type: 'image/png' }));
      img.alt = 'payment token QR code';
      img.hidden = false;
      status(`token of ${token.length} bytes as QR version ${code.qrVersion}: show it to the reader`);
    }, showError);
  document.body.dataset.ready = 'true';
}

main().catch(showError);
