/**
 * A vending machine's loop, offline: for each customer the machine shows a signed payment request as a QR
 * code, the phone reads it, pays, and sends the token back by sound (FSK) or by showing a QR code; the
 * machine accepts (durable SQLite store: a token is recorded before anything is dispensed), vends, and marks
 * the sale complete. A replayed token is refused. Run: `npm run build && node dist/examples/vending.js`.
 *
 * Here the phone and the air are simulated in one process; on a real machine the request goes to a screen
 * and the token comes from a microphone (FskReceiver) or a camera (decodeCode on camera frames).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Issuer, MemoryCounterStore, Wallet, dayOf, formatMoney, publicKeyOf, randomSecretKey } from 'offpay';
import { nodeEd25519, openSqliteReaderStore } from 'offpay/node';
import { Reader, createBlocklist, type ReaderVerdict } from 'offpay/reader';
import { decode as fskDecode, encode as fskEncode } from 'offpay/fsk';
import { decodeCode, encodeCode } from 'offpay/qr';
import { loadQrEngineNode } from 'offpay/qr/node';

const HKD = 344;
const now = Math.floor(Date.now() / 1000);
const dir = mkdtempSync(join(tmpdir(), 'offpay-vending-'));

// --- set-up, done once while online: certificates, and the latest blocklist (a vending reader refuses every
// token, `blocklist_stale`, until it holds one)
const issuer = Issuer.fromSecret(1, 1, randomSecretKey(), now - 86400, now + 365 * 86400);
const issuerKeys = issuer.keySet();
const machineKey = randomSecretKey();
const machine = {
  secretKey: machineKey,
  cert: issuer.issueReaderCert(
    { readerId: 4201, readerPublicKey: publicKeyOf(machineKey), operatorId: 90, profile: 'vending', notBefore: now - 60, notAfter: now + 365 * 86400 },
    now,
  ),
};
// a reader database is created once, explicitly (a missing one is never silently recreated: spec/reader.md)
const store = await openSqliteReaderStore(join(dir, 'vm.db'), { mode: 'create' }); // needs better-sqlite3 (an optional peer)
const reader = new Reader({ ...machine, issuerKeys, store, verifier: nodeEd25519() });
reader.loadBlocklist(createBlocklist(issuer.currentKey(now), { issuerId: issuer.issuerId, version: 1, issuedAt: now, walletIds: [] }).bytes);
await loadQrEngineNode(); // the zxing wasm from the installed package, never a CDN

function phone(): Wallet {
  const key = randomSecretKey();
  const cert = issuer.issueWalletCert(
    { walletPublicKey: publicKeyOf(key), expiryDay: dayOf(now) + 30, maxPerPayment: 20_000, offlineAllowance: 50_000, currency: HKD },
    now,
  );
  return new Wallet({ secretKey: key, cert, counter: new MemoryCounterStore() });
}

const vend = (item: string): void => console.log(`  *clunk* ${item}`);
const line = (v: ReaderVerdict): string => (v.accepted ? `accepted ${formatMoney(v.amount, v.currency)}` : `refused: ${v.reason}`);

// --- the loop: one customer after another, nobody online
const customers = [
  { wallet: phone(), item: 'water', price: 1250, via: 'sound' as const },
  { wallet: phone(), item: 'coffee', price: 1800, via: 'qr' as const },
];
let lastToken: Uint8Array | undefined;
let sold = 0;
for (const c of customers) {
  // 1. the machine opens a request (its one open request: a new one closes the old) and shows it on screen
  const { bytes } = reader.openRequest({ amount: c.price, currency: HKD, now });
  const onScreen = await encodeCode(bytes, { kind: 'request' });
  // 2. the phone's camera reads it, the wallet checks it and signs a token
  const seen = await decodeCode(onScreen.png, { expect: 'request' });
  const token = await c.wallet.pay(seen.payload, { issuerKeys });
  // 3. the token reaches the machine by sound, or by a QR code on the phone's screen
  let received: Uint8Array | undefined;
  if (c.via === 'sound') {
    const audio = fskEncode(token, { profile: 'fast', sampleRate: 48_000 });
    received = fskDecode(audio, 48_000).messages[0];
  } else {
    received = (await decodeCode((await encodeCode(token, { kind: 'token' })).png, { expect: 'token' })).payload;
  }
  if (!received) throw new Error('the token did not get through');
  // 4. accept (durably recorded), vend, complete
  const verdict = await reader.accept(received, { now }); // judged against the open request
  console.log(`${c.item} (${c.via}): ${line(verdict)}`);
  if (!verdict.accepted) continue;
  vend(c.item);
  reader.complete(verdict.tokenHash);
  sold++;
  lastToken = received;
}

// a recorded token played again (someone recorded the sound) at the next customer's request is refused
reader.openRequest({ amount: 1800, currency: HKD, now });
const replay = await reader.accept(lastToken!, { now });
console.log(`replay of the last token: ${line(replay)}`);

store.close();
rmSync(dir, { recursive: true, force: true });
if (sold !== customers.length || replay.accepted) process.exit(1);
