/**
 * The reader attack review (2026-12-07) through the library API, as a hostile or buggy integrator calls it. Each test
 * failed on the code before its fix:
 *  - a request challenge other than 8 bytes was stored, and every later accept, prune and `offpay request` failed;
 *  - a reader time that is not an integer (a numeric string, a fraction) passed the certificate check: a string was
 *    committed as a journal time no decoder reads (every later export failed) and disabled the future-date checks;
 *  - `offpay request --db` checked for a paid pending sale in one transaction and opened the request in another, so
 *    a sale a `reader listen` committed in between was closed silently (now `openRequest({ unlessPaid: true })`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader, type ReaderStore } from '../../src/reader/index.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import { main } from '../../src/cli/main.js';
import { loadIssuerKeys, loadReader } from '../../src/node/files.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, openTestReader, signToken } from './helpers.js';

const issuer = makeIssuer('zz-attack-lib');
const vendId = makeReader(issuer, 'zz-attack-lib', 4821, 'vending');
const wallet = makeWallet(issuer, 'zz-attack-lib', 'w');
const list1 = createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes;

function vending(store: ReaderStore = new MemoryReaderStore(), load = true): Reader {
  const r = new Reader({ ...vendId, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => NOW });
  if (load) r.loadBlocklist(list1, NOW);
  return r;
}

function codeOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return e instanceof OffpayError ? e.code : `untyped ${(e as Error).message}`;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'offpay-zz-attack-lib-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openRequest with an integrator-chosen challenge that is not 8 bytes', () => {
  // spec/reader.md §2 Requests: openRequest signs the request "with a fresh random 8-byte challenge"; spec/protocol.md
  // requests carry an 8-byte challenge, and the reader's own decoder (readOpen -> decodeRequest) refuses any other.
  // reader.ts openRequest checks amount and currency, never the challenge's length, and stores the request: from then
  // on every accept (step 0 reads the open request), openRequestInfo() and prune() throw message.bad_structure, a
  // code spec §2 step E does not list, until the machine opens another request. Expected: refused before anything is
  // stored (reader.bad_context, as for a bad amount or currency: spec §13), the previous request still open.
  it('is refused before it is stored, and the reader keeps judging tokens against its open request', async () => {
    const r = vending();
    const good = r.openRequest({ amount: 100, currency: HKD, now: NOW });
    const code = codeOf(() => r.openRequest({ amount: 100, currency: HKD, now: NOW, challenge: new Uint8Array([1, 2, 3, 4]) }));
    // The machine's next customer pays the request still on its screen.
    const token = signToken(wallet, { payee: r.readerId, amount: 100, counter: 1, time: NOW, challenge: good.request.challenge });
    let verdict: string;
    try {
      const v = await r.accept(token, { now: NOW + 1 });
      verdict = v.accepted ? 'accepted' : v.reason;
    } catch (e) {
      verdict = `threw ${(e as OffpayError).code}`;
    }
    expect({ openRequest: code, accept: verdict, info: codeOf(() => r.openRequestInfo()) }).toEqual({ openRequest: 'reader.bad_context', accept: 'accepted', info: 'ok' });
  });
});

describe('openRequest with a short challenge on a CLI database', () => {
  // The same defect seen from the CLI: once the library stored the undecodable request, `offpay request --db` (which
  // first reads the open request for reader.sale_pending) and `offpay reader accept` fail with exit 2 too, so the CLI
  // cannot open the next request that would repair the state: the machine is out of service until code outside the
  // CLI opens or closes a request. Expected: the bad request is never stored, the CLI keeps working.
  it('leaves offpay request --db able to open the next request', async () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-zz-attack-cli-'));
    try {
      const run = (...argv: string[]) => main(argv, { out: () => undefined, err: () => undefined });
      const q = (x: string) => join(d, x);
      const at = `--now=${NOW}`;
      expect(await run('issuer', 'init', '--dir', q('issuer'), '--seed', 'zzshort', at)).toBe(0);
      expect(await run('reader', 'new', '--issuer', q('issuer'), '--id', '4831', '--operator', '90', '--out', q('vm'), '--seed', 'zzshort', at)).toBe(0);
      expect(await run('reader', 'init', '--reader', q('vm'), '--db', q('vm.db'), '--issuer', q('issuer'), at)).toBe(0);
      const files = loadReader(q('vm'));
      const store = SqliteReaderStore.open(q('vm.db'));
      try {
        const r = new Reader({ cert: files.cert, secretKey: files.secretKey, issuerKeys: loadIssuerKeys(q('issuer')), store, verifier: nodeEd25519(), clock: () => NOW });
        codeOf(() => r.openRequest({ amount: 250, currency: HKD, now: NOW, challenge: new Uint8Array([7, 7, 7, 7]) })); // an order number
      } finally {
        store.close();
      }
      expect(await run('request', '--reader', q('vm'), '--db', q('vm.db'), '--amount', '2.50', '--currency', 'HKD', '--out', q('req.cbor'), at)).toBe(0);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('accept at a time that is not an integer of unix seconds', () => {
  // spec/reader.md §1 (times are unix seconds), §2 step E (errors, not verdicts: "nothing is recorded"), I10. Reader.prune
  // refuses a now that is not a safe integer (reader.bad_config); accept, tapOut, void and openRequest do not check it.
  // A numeric string (a JS integration passing a query-string or env value: "1795000000") passes checkCertValid (JS
  // compares it as a number), is accepted, charged, and committed as a journal entry whose time is a CBOR text string,
  // which the journal decoder refuses: entries() and every later export() throw cbor.unsupported, for ever, so no sale of
  // this reader (this one or any later) reaches clearing. Expected: a typed reader error, nothing recorded.
  it('a numeric string is refused before any state changes, and the reader still exports', async () => {
    const g = openTestReader(issuer, 'zz-attack-lib', 5821);
    const honest = signToken(wallet, { payee: 300, amount: 200, counter: 10, time: NOW });
    expect((await g.accept(honest, { fare: { amount: 200, currency: HKD }, now: NOW })).accepted).toBe(true);
    const token = signToken(wallet, { payee: 300, amount: 200, counter: 11, time: NOW });
    let outcome: string;
    try {
      const v = await g.accept(token, { fare: { amount: 200, currency: HKD }, now: String(NOW + 1) as unknown as number });
      outcome = v.accepted ? 'accepted' : v.reason;
    } catch (e) {
      outcome = e instanceof OffpayError ? e.code : 'untyped';
    }
    const exported = codeOf(() => g.export(NOW + 2));
    expect({ typedReaderError: outcome.startsWith('reader.'), outcome, exported }).toEqual({ typedReaderError: true, outcome: expect.any(String), exported: 'ok' });
  });

  it('a numeric string does not disable the future-date check of a blocklist load (blocklist.future)', () => {
    // spec/reader.md §5 Loading step 9: issuedAt <= now + maxFutureSeconds, else blocklist.future ("a list dated ahead
    // would stay fresh for ever", I6). Reader.loadBlocklist computes `now + this.profile.maxFutureSeconds`: with now a
    // numeric string that is string concatenation ("1795000000" + 60 = "179500000060"), so a list dated a year ahead loads
    // (verifyToken's `signedAt > now + maxFutureSeconds` has the same shape: with a string now, time_in_future never fires).
    const g = openTestReader(issuer, 'zz-attack-lib', 5823);
    const ahead = createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 2, issuedAt: NOW + 300 * 86400, walletIds: [] }).bytes;
    expect(codeOf(() => g.loadBlocklist(ahead, NOW))).toBe('blocklist.future'); // control: a number
    expect(codeOf(() => g.loadBlocklist(ahead, String(NOW) as unknown as number))).not.toBe('ok');
  });

  it('a fractional clock (Date.now() / 1000 without floor) is a reader.* error naming the time, not cbor.unsupported', async () => {
    // A typed error with nothing recorded is what happens (the transaction rolls back); the code is not one spec §2
    // step E or §13 lists for accept. Spec-level: the accept contract should name the bad time.
    const g = openTestReader(issuer, 'zz-attack-lib', 5822);
    const token = signToken(wallet, { payee: 300, amount: 200, counter: 20, time: NOW });
    let outcome: string;
    try {
      await g.accept(token, { fare: { amount: 200, currency: HKD }, now: NOW + 0.25 });
      outcome = 'verdict';
    } catch (e) {
      outcome = e instanceof OffpayError ? e.code : 'untyped';
    }
    expect(outcome).toMatch(/^reader\./);
  });
});

describe('offpay request --db: the pending-sale check and the new request are one transaction', () => {
  // spec/reader.md §6 After a restart: "offpay request --db and offpay reader listen --amount refuse to open a request
  // while the open one is paid by a pending sale (reader.sale_pending)", because the new request would close it and the
  // sale would settle with no goods handed out. src/cli/commands/core.ts (request.run) called refuseOverPendingSale(reader)
  // (one transaction: reads paidBy) and then reader.openRequest(...) (another transaction: overwrote the open request
  // whatever it held). A `reader listen` process on the same database (§17.1, judging against "whatever request is
  // open in the database") that commits a sale between the two has its paid, pending sale closed silently: the exact
  // state reader.sale_pending exists to prevent. Expected: the check and the write are one transaction, so the request
  // command either opens the new request over an unpaid one or fails with reader.sale_pending.
  it('a sale committed by another process between the check and the write is not closed silently', async () => {
    const path = join(dir, 'vm.db');
    const listenStore = SqliteReaderStore.create(path);
    const listenProc = vending(listenStore); // `reader listen` (no --amount), running
    const r1 = listenProc.openRequest({ amount: 300, currency: HKD, now: NOW });
    const requestStore = SqliteReaderStore.open(path);
    const requestCmd = vending(requestStore, false); // `offpay request --db`, a second process
    try {
      // request.run starts: nothing pays the open request yet (it checked here before, in a transaction of its own).
      expect(requestCmd.openRequestInfo()?.paidBy).toBeUndefined();
      // Meanwhile the customer's phone pays R1 and the listen process commits the sale (ACCEPTED printed).
      const token = signToken(wallet, { payee: vendId.cert.readerId, amount: 300, counter: 30, time: NOW, challenge: r1.request.challenge });
      const v = await listenProc.accept(token, { now: NOW + 1 });
      expect(v.accepted).toBe(true);
      // request.run opens its request: the check is in the transaction that writes.
      let code = 'ok';
      try {
        requestCmd.openRequest({ amount: 500, currency: HKD, now: NOW + 1, unlessPaid: true });
      } catch (e) {
        code = (e as OffpayError).code;
      }
      const open = listenProc.openRequestInfo();
      const paidStillFindable = open?.paidBy !== undefined && Buffer.from(open.paidBy).equals(Buffer.from(v.tokenHash));
      expect({ code, paidStillFindable }).toEqual({ code: 'reader.sale_pending', paidStillFindable: true });
    } finally {
      requestStore.close();
      listenStore.close();
    }
  });
});

describe('a reader time that is not an integer, in the calls a later review found unchecked', () => {
  it('receipt and voidReceipt refuse it (reader.bad_context); prune says reader.bad_config in its own order (§9.3)', async () => {
    const r = vending();
    const req = r.openRequest({ amount: 100, currency: HKD, now: NOW });
    const v = await r.accept(signToken(wallet, { payee: r.readerId, amount: 100, counter: 41, time: NOW, challenge: req.request.challenge }), { now: NOW });
    expect(v.accepted).toBe(true);
    expect({
      receipt: codeOf(() => r.receipt(v, String(NOW) as unknown as number)),
      fraction: codeOf(() => r.receipt(v, NOW + 0.5)),
      voidReceipt: codeOf(() => r.voidReceipt(v.tokenHash, String(NOW) as unknown as number)),
      negative: codeOf(() => r.receipt(v, -1)), // a receipt no decoder reads (its time is a uint), until refused
      prune: codeOf(() => r.prune({ now: String(NOW) as unknown as number })),
    }).toEqual({ receipt: 'reader.bad_context', fraction: 'reader.bad_context', voidReceipt: 'reader.bad_context', negative: 'reader.bad_context', prune: 'reader.bad_config' });
  });
});
