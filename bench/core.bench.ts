/**
 * Core benchmark: token encode, decode and verify, per token, with each Ed25519 backend side by side
 * (noble: the portable reference; node:crypto; WebCrypto: the fast path). Results: bench/results/core.md.
 * Run: npm run bench:core
 */
import {
  Issuer,
  MemoryCounterStore,
  Wallet,
  dayOf,
  bindToken,
  decodeToken,
  encodeToken,
  nobleEd25519,
  publicKeyOf,
  seededSecretKey,
  tokenSigningInput,
  verifyToken,
  verifyTokenAsync,
  webCryptoEd25519,
  type VerifyContext,
} from '../src/index.js';
import { nodeEd25519 } from '../src/node/crypto.js';
import { benchSuite, machine, writeResults } from './common.js';

const NOW = 1_795_000_000;
const issuer = Issuer.fromSecret(1, 1, seededSecretKey('bench', 'issuer'), NOW - 1e7, NOW + 1e7);
const sk = seededSecretKey('bench', 'wallet');
const cert = issuer.issueWalletCert({ walletPublicKey: publicKeyOf(sk), expiryDay: dayOf(NOW) + 30, maxPerPayment: 50_000, offlineAllowance: 60_000, currency: 344 }, NOW);
const wallet = new Wallet({ secretKey: sk, cert, counter: new MemoryCounterStore(), clock: () => NOW });
const token = await wallet.payTo({ payee: 4201, amount: 1250 });
const decoded = bindToken(decodeToken(token))!;
const ctx: VerifyContext = { issuerKeys: issuer.keySet(), now: NOW, payees: [4201] };
const node = nodeEd25519();
const web = webCryptoEd25519();
const sigInput = tokenSigningInput(decoded);

if (!verifyToken(token, ctx).accepted || !verifyToken(token, ctx, node).accepted || !(await verifyTokenAsync(token, ctx, web)).accepted) {
  throw new Error('benchmark token does not verify');
}

const { add, addAsync, run } = benchSuite('core', 20);

add('encode token (CBOR)', () => encodeToken(decoded));
add('decode token (CBOR, canonical check)', () => decodeToken(token));
add('Ed25519 verify, noble (strict)', () => nobleEd25519.verify(decoded.walletSignature, sigInput, cert.walletPublicKey));
add('Ed25519 verify, node:crypto', () => node.verify(decoded.walletSignature, sigInput, cert.walletPublicKey));
addAsync('Ed25519 verify, WebCrypto', () => web.verify(decoded.walletSignature, sigInput, cert.walletPublicKey));
add('verifyToken, noble (2 signatures)', () => verifyToken(token, ctx));
add('verifyToken, node:crypto (2 signatures)', () => verifyToken(token, ctx, node));
addAsync('verifyTokenAsync, WebCrypto (2 signatures)', () => verifyTokenAsync(token, ctx, web));

const rows = await run();

const m = machine();
const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const md = [
  '# Core benchmark (`npm run bench:core`)',
  '',
  `Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.date}, load average ${m.loadAverage1m} at the end (other work on the machine inflates times). benchmark.js, at least 20 samples per row.`,
  `Token: ${token.length} bytes (one-way, with its wallet certificate).`,
  '',
  '| operation | ops/s | µs/op | ±% |',
  '|---|---:|---:|---:|',
  ...rows.map((r) => `| ${r.name} | ${fmt(r.hz)} | ${r.usPerOp.toFixed(1)} | ${r.rme.toFixed(1)} |`),
  '',
  'A token verification is two Ed25519 verifications (certificate and token) plus decoding; CBOR costs are',
  'microseconds against milliseconds for noble. The noble and fast paths give the same verdict on every',
  'test vector (`offpay vectors check`, test/core/vectors.test.ts).',
  '',
].join('\n');
writeResults('core', md, { machine: m, tokenBytes: token.length, rows });
process.stdout.write(`\nwritten bench/results/core.md\n`);
