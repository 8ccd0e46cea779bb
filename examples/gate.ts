/**
 * A transit gate, offline: no request on a screen (the gate has only a scanner), so the phone signs a
 * one-way token for the operator and the fare, and shows it as a QR code; the gate accepts and opens in one
 * step (`complete: true`: nothing to dispense). A photo of the same code shown again is refused.
 * Run: `npm run build && node dist/examples/gate.js`.
 */
import { Issuer, MemoryCounterStore, Wallet, dayOf, publicKeyOf, randomSecretKey } from 'offpay';
import { nodeEd25519 } from 'offpay/node';
import { MemoryReaderStore, Reader, createBlocklist } from 'offpay/reader';
import { decodeCode, encodeCode } from 'offpay/qr';
import { loadQrEngineNode } from 'offpay/qr/node';

const HKD = 344;
const OPERATOR = 77;
const FARE = { amount: 1100, currency: HKD };
const now = Math.floor(Date.now() / 1000);

const issuer = Issuer.fromSecret(1, 1, randomSecretKey(), now - 86400, now + 365 * 86400);
const issuerKeys = issuer.keySet();
const gateKey = randomSecretKey();
const gateCert = issuer.issueReaderCert(
  { readerId: 5001, readerPublicKey: publicKeyOf(gateKey), operatorId: OPERATOR, profile: 'transit', notBefore: now - 60, notAfter: now + 365 * 86400 },
  now,
);
// MemoryReaderStore keeps the example short; a real gate keeps its state on disk (openSqliteReaderStore).
const gate = new Reader({ cert: gateCert, secretKey: gateKey, issuerKeys, store: new MemoryReaderStore(), verifier: nodeEd25519() });
gate.loadBlocklist(createBlocklist(issuer.currentKey(now), { issuerId: issuer.issuerId, version: 1, issuedAt: now, walletIds: [] }).bytes);
await loadQrEngineNode();

const key = randomSecretKey();
const wallet = new Wallet({
  secretKey: key,
  cert: issuer.issueWalletCert({ walletPublicKey: publicKeyOf(key), expiryDay: dayOf(now) + 30, maxPerPayment: 20_000, offlineAllowance: 50_000, currency: HKD }, now),
  counter: new MemoryCounterStore(),
});

// the phone shows a one-way token for the operator and the fare; the gate's scanner reads it
const token = await wallet.payTo({ payee: OPERATOR, amount: FARE.amount });
const shown = await encodeCode(token, { kind: 'token' });
const scanned = (await decodeCode(shown.png, { expect: 'token' })).payload;

const first = await gate.accept(scanned, { fare: FARE, complete: true });
console.log(`tap: ${first.accepted ? 'gate opens' : `refused: ${first.reason}`}`);
const again = await gate.accept(scanned, { fare: FARE, complete: true });
console.log(`the same code again (a photo of the screen): ${again.accepted ? 'gate opens' : `refused: ${again.reason}`}`);
if (!first.accepted || again.accepted) process.exit(1);
