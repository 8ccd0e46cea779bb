/**
 * A browser page with offpay, as a web team bundles it (esbuild here; Vite works the same): a till on a web
 * page shows a payment request as a QR code, a wallet in the same page pays, the token travels as FSK
 * sound samples, and the page verifies it with WebCrypto. Nothing leaves the page: the zxing wasm is the
 * package's own file, served next to the bundle (zxing-wasm/full/zxing_full.wasm), never a CDN.
 *
 * Build: esbuild examples/browser/main.ts --bundle --format=esm --outdir=out, copy
 * node_modules/zxing-wasm/dist/full/zxing_full.wasm and index.html into out/, serve out/.
 * test/browser/chromium.test.ts does exactly that and loads it in Chromium.
 */
import { Issuer, MemoryCounterStore, Wallet, createRequest, dayOf, publicKeyOf, randomSecretKey, requestContextOf, verifyTokenAsync, webCryptoEd25519 } from 'offpay';
import { decode as fskDecode, encode as fskEncode } from 'offpay/fsk';
import { decodeCode, encodeCode, loadQrEngine } from 'offpay/qr';

async function main(): Promise<{ accepted: boolean; qrOk: boolean; fskOk: boolean; tokenBytes: number }> {
  const now = Math.floor(Date.now() / 1000);
  const issuer = Issuer.fromSecret(1, 1, randomSecretKey(), now - 86400, now + 365 * 86400);
  const readerKey = randomSecretKey();
  const till = {
    secretKey: readerKey,
    cert: issuer.issueReaderCert(
      { readerId: 4201, readerPublicKey: publicKeyOf(readerKey), operatorId: 90, profile: 'vending', notBefore: now - 60, notAfter: now + 365 * 86400 },
      now,
    ),
  };
  const walletKey = randomSecretKey();
  const wallet = new Wallet({
    secretKey: walletKey,
    cert: issuer.issueWalletCert({ walletPublicKey: publicKeyOf(walletKey), expiryDay: dayOf(now) + 30, maxPerPayment: 20_000, offlineAllowance: 50_000, currency: 344 }, now),
    counter: new MemoryCounterStore(),
  });

  await loadQrEngine({ url: new URL('./zxing_full.wasm', import.meta.url) });
  const { request, bytes } = createRequest(till, { amount: 1250, currency: 344, time: now });
  const shown = await encodeCode(bytes, { kind: 'request' });
  const img = document.createElement('img');
  img.src = URL.createObjectURL(new Blob([shown.png.slice()], { type: 'image/png' }));
  document.body.append(img);
  const scanned = await decodeCode(shown.png, { expect: 'request' });

  const token = await wallet.pay(scanned.payload, { issuerKeys: issuer.keySet() });
  const heard = fskDecode(fskEncode(token, { profile: 'fast', sampleRate: 48_000 }), 48_000).messages[0];
  const verdict = await verifyTokenAsync(heard ?? new Uint8Array(0), { issuerKeys: issuer.keySet(), now, payees: [4201], request: requestContextOf(request) }, webCryptoEd25519());
  const text = document.createElement('p');
  text.textContent = verdict.accepted ? 'paid HKD 12.50' : `refused: ${verdict.reason}`;
  document.body.append(text);
  return { accepted: verdict.accepted, qrOk: scanned.payload.length === bytes.length, fskOk: heard !== undefined, tokenBytes: token.length };
}

const w = window as unknown as { __example?: unknown };
main().then(
  (r) => (w.__example = r),
  (e: unknown) => (w.__example = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
);
