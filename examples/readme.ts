/**
 * The README's "library in a few lines", as a program: an issuer certifies a wallet and a vending reader,
 * the reader asks for HKD 12.50, the wallet pays, and the token is verified three ways (noble, and
 * node:crypto from offpay/node). Run: `npm run build && node dist/examples/readme.js`.
 */
import { Issuer, Wallet, MemoryCounterStore, createRequest, verifyToken, requestContextOf, publicKeyOf, randomSecretKey, dayOf } from 'offpay';
import { nodeEd25519 } from 'offpay/node';

const now = Math.floor(Date.now() / 1000);
const issuer = Issuer.fromSecret(1, 1, randomSecretKey(), now - 86400, now + 365 * 86400);
const walletKey = randomSecretKey();
const cert = issuer.issueWalletCert(
  { walletPublicKey: publicKeyOf(walletKey), expiryDay: dayOf(now) + 30, maxPerPayment: 20_000, offlineAllowance: 50_000, currency: 344 },
  now,
);
const wallet = new Wallet({ secretKey: walletKey, cert, counter: new MemoryCounterStore() }); // FileCounterStore on Node (below)

const readerKey = randomSecretKey();
const reader = { secretKey: readerKey, cert: issuer.issueReaderCert(
  { readerId: 4201, readerPublicKey: publicKeyOf(readerKey), operatorId: 90, profile: 'vending', notBefore: now - 60, notAfter: now + 365 * 86400 }, now) };

const { request, bytes } = createRequest(reader, { amount: 1250, currency: 344, time: now });  // HKD 12.50
const token = await wallet.pay(bytes, { issuerKeys: issuer.keySet() });                       // Uint8Array, 189 B
const verdict = verifyToken(token, { issuerKeys: issuer.keySet(), now, payees: [4201], request: requestContextOf(request) });
// { accepted: true, token, tokenHash, walletId, currency } or { accepted: false, reason: 'wrong_payee', code: 11, ... }

// The stateful reader (offpay/reader: replay window, limits, blocklist). A vending Reader refuses every token
// with blocklist_stale (39) until a blocklist from clearing is loaded, so load one before it goes into service:
//   reader.loadBlocklist(listBytes)   // the signed list from clearing (offpay clearing blocklist)
// or on the command line: offpay reader load-blocklist --reader vm --db vm.db list.cbor
const fast = verifyToken(token, { issuerKeys: issuer.keySet(), now, payees: [4201], request: requestContextOf(request) }, nodeEd25519());

console.log(`token ${token.length} B: ${verdict.accepted ? 'accepted' : `rejected (${verdict.reason})`}; node:crypto agrees: ${fast.accepted === verdict.accepted}`);
if (!verdict.accepted || !fast.accepted) process.exit(1);
