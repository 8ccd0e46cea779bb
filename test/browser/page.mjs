// Runs inside Chromium (test/browser/chromium.test.ts): the built modules, as a page would use them.
// The outcome is left in window.__offpay.
async function run() {
  const m = await import('/dist/src/index.js');
  const vec = await import('/dist/src/vectors.js');
  const now = 1_795_000_000;
  const issuer = m.Issuer.fromSecret(1, 1, m.seededSecretKey('b', 'issuer'), now - 1e6, now + 1e6);
  const sk = m.seededSecretKey('b', 'wallet');
  const cert = issuer.issueWalletCert({ walletPublicKey: m.publicKeyOf(sk), expiryDay: m.dayOf(now) + 30, maxPerPayment: 50000, offlineAllowance: 60000, currency: 344 }, now);
  const wallet = new m.Wallet({ secretKey: sk, cert, counter: new m.MemoryCounterStore(), clock: () => now });
  const token = await wallet.payTo({ payee: 4201, amount: 1250 });
  const ctx = { issuerKeys: issuer.keySet(), now, payees: [4201] };
  const noble = m.verifyToken(token, ctx).accepted;
  const webcryptoAvailable = await m.hasWebCryptoEd25519();
  const webcrypto = (await m.verifyTokenAsync(token, ctx, m.webCryptoEd25519())).accepted;
  const files = {};
  for (const name of ['token_verify.json', 'request_verify.json']) files[name] = await (await fetch(`/fixtures/vectors/${name}`)).json();
  const vectorProblems = [...vec.checkVectorFilesSync(files, m.nobleEd25519), ...(await vec.checkVectorFilesAsync(files, m.webCryptoEd25519()))];
  const cases = files['token_verify.json'].numberOfTests + files['request_verify.json'].numberOfTests;

  const fsk = await import('/dist/codecs/fsk/index.js');
  const rate = 48000;
  const actx = new OfflineAudioContext(1, rate * 2, rate);
  const src = actx.createBufferSource();
  src.buffer = fsk.encodeToAudioBuffer(actx, token, { profile: 'fast' });
  src.connect(actx.destination);
  src.start(0.2);
  const rendered = await actx.startRendering();
  const heard = fsk.decode(rendered.getChannelData(0), rate).messages[0];
  const same = (a, b) => !!a && a.length === b.length && a.every((x, i) => x === b[i]);
  const fskOk = same(heard, token);

  const qr = await import('/dist/codecs/qr/index.js');
  await qr.loadQrEngine({ url: '/node_modules/zxing-wasm/dist/full/zxing_full.wasm' });
  const code = await qr.encodeCode(token, { kind: 'token' });
  const read = await qr.decodeCode(code.png, { expect: 'token' });
  const qrOk = same(read.payload, token);
  return { noble, webcryptoAvailable, webcrypto, vectorProblems, cases, fskOk, qrOk, qrVersion: code.qrVersion, ua: navigator.userAgent };
}

run().then(
  (r) => (window.__offpay = r),
  (e) => (window.__offpay = { error: `${e && e.stack ? e.stack : e}` }),
);
