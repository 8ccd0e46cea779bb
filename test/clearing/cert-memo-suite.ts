/**
 * The database memo of verified wallet certificates (src/clearing/cert-memo.ts, spec/clearing.md §4,
 * remembered certificates), on any engine: a clearing that opens the database later does not verify again a
 * certificate a committed batch verified, and gives the verdicts a clearing without the memo gives, including
 * for forged certificates that copy a remembered one's signature, key or fields. cert-memo.test.ts runs it on
 * SQLite, store-pg.test.ts on PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import type { Clearing, ClearingOptions } from '../../src/clearing/index.js';
import type { SyncVerifier } from '../../src/crypto.js';
import { toHex } from '../../src/index.js';
import type { WalletCert } from '../../src/messages.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { chainHash, createBatch, encodeEntry, genesisHash, type JournalEntry } from '../../src/reader/index.js';
import { forgetPrimeOrderKeys, primeOrderMultiplications } from '../../src/weakkeys.js';
import { NOW, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';

/** An engine: each call gives an opener of a new, empty database (every clearing it opens shares that database). */
export type NewDatabase = () => Promise<(o: ClearingOptions) => Promise<Clearing>>;

export const issuer = makeIssuer('cert-memo');
const reader = makeReader(issuer, 'cert-memo', 41);
const JOURNAL = new Uint8Array(8).fill(4);
// Made before any measurement: issuing a certificate checks the key for prime order too.
export const [w1, w2, w3] = ['a', 'b', 'c'].map((l) => makeWallet(issuer, 'cert-memo', l));

/** The reader's journal as batches: each night's tokens (accepts), chained from the genesis. */
function nights(...tokens: Uint8Array[][]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let head = genesisHash(reader.cert.readerId, JOURNAL);
  let seq = 1;
  tokens.forEach((list, n) => {
    const entries: JournalEntry[] = list.map((data) => ({ seq: seq++, kind: 'accept', time: NOW, data, value: 120 }));
    const prevHead = head;
    for (const e of entries) head = chainHash(head, encodeEntry(e));
    out.push(createBatch(reader, { readerCert: reader.cert, journalId: JOURNAL, batchSeq: n + 1, firstSeq: entries[0]!.seq, prevHead, head, entries, createdAt: NOW + 60 }).bytes);
  });
  return out;
}

const pay = (w: { secretKey: Uint8Array; cert: WalletCert }, counter: number) => signToken(w, { payee: reader.cert.readerId, amount: 120, counter });

/** A node:crypto verifier that counts the wallet-certificate signatures it is asked to verify, by signature. */
function counting(): { verifier: SyncVerifier; certs: string[] } {
  const inner = nodeEd25519();
  const certs: string[] = [];
  const tag = new TextEncoder().encode('OFFPAY-V2-WALLET-CERT');
  return {
    certs,
    verifier: {
      name: 'counting',
      verify(signature, message, publicKey) {
        if (message[0] === tag.length && tag.every((b, i) => message[1 + i] === b)) certs.push(toHex(signature));
        return inner.verify(signature, message, publicKey);
      },
    },
  };
}

/** What a report says about money, comparable across clearings. */
async function moneyOf(c: Clearing) {
  const r = await c.report();
  return { totals: r.totals, settlement: r.settlement, invalid: r.invalidTokens, problems: r.problems, doubleSpends: (await c.doubleSpends()).length };
}

export function certMemoSuite(engine: string, database: NewDatabase): void {
  describe(`remembered wallet certificates (the clearing database memo): ${engine}`, () => {
    it('a clearing that opens the database later verifies only the certificates no committed batch verified', async () => {
      const db = await database();
      const [night1, night2] = nights([pay(w1!, 1), pay(w2!, 1)], [pay(w1!, 2), pay(w2!, 2), pay(w3!, 1), pay(w3!, 2)]);
      const a = counting();
      const first = await db({ issuerKeys: issuer.keySet(), verifier: a.verifier });
      expect((await first.ingest(night1!)).outcome).toBe('ingested');
      await first.close();
      expect(new Set(a.certs)).toEqual(new Set([toHex(w1!.cert.issuerSignature), toHex(w2!.cert.issuerSignature)]));

      // As a new process: nothing remembered in memory (a new verifier has an empty memo, and the prime-order memo
      // is cleared); only the database remembers w1 and w2.
      forgetPrimeOrderKeys();
      const before = primeOrderMultiplications();
      const b = counting();
      const later = await db({ verifier: b.verifier });
      const r = await later.ingest(night2!);
      expect(r).toMatchObject({ outcome: 'ingested', entries: 4, invalidTokens: 0 });
      expect(b.certs).toEqual([toHex(w3!.cert.issuerSignature)]); // w3 once: the process memo has it for its second token
      expect(primeOrderMultiplications() - before).toBe(1); // w3's key only

      // The same verdicts and money as one clearing without a database memo of its own history.
      const whole = await (await database())({ issuerKeys: issuer.keySet(), verifier: counting().verifier });
      for (const batch of [night1!, night2!]) expect((await whole.ingest(batch)).outcome).toBe('ingested');
      expect(await moneyOf(later)).toEqual(await moneyOf(whole));
      await Promise.all([later.close(), whole.close()]);
    });

    it('a remembered certificate lends nothing to a forged one: changed fields, another key, another signature', async () => {
      const db = await database();
      // Forgeries of w1's certificate, each token signed by the wallet key the forged certificate names.
      const richer: WalletCert = { ...w1!.cert, offlineAllowance: w1!.cert.offlineAllowance + 1 }; // w1's signature, a raised field
      const stolen: WalletCert = { ...w2!.cert, issuerSignature: w1!.cert.issuerSignature }; // w2's fields, w1's signature
      const flipped = w1!.cert.issuerSignature.slice();
      flipped[0]! ^= 1; // another six-byte prefix: its own slot in the process memo
      const bent: WalletCert = { ...w1!.cert, issuerSignature: flipped }; // w1's fields, a changed signature
      const [night1, night2, night3] = nights(
        [pay(w1!, 1)],
        // w1's genuine certificate first, so that the forgeries come after it was recalled from the database.
        [pay(w1!, 2), pay({ secretKey: w1!.secretKey, cert: richer }, 3), pay({ secretKey: w2!.secretKey, cert: stolen }, 1), pay({ secretKey: w1!.secretKey, cert: bent }, 4)],
        // The forgeries again, to a third clearing: their failed checks were not remembered either.
        [pay({ secretKey: w1!.secretKey, cert: richer }, 5), pay({ secretKey: w2!.secretKey, cert: stolen }, 2), pay({ secretKey: w1!.secretKey, cert: bent }, 6)],
      );
      const first = await db({ issuerKeys: issuer.keySet(), verifier: counting().verifier });
      expect((await first.ingest(night1!)).outcome).toBe('ingested');
      await first.close();
      forgetPrimeOrderKeys();
      const b = counting();
      const later = await db({ verifier: b.verifier });
      expect(await later.ingest(night2!)).toMatchObject({ outcome: 'ingested', entries: 4, invalidTokens: 3 });
      const reasons = (await later.report()).invalidTokens.map((e) => [e.seq, e.reason]);
      expect(reasons).toEqual([3, 4, 5].map((seq) => [seq, 'bad_certificate_signature']));
      // Each forgery was verified (and failed); w1's own certificate came from the memo.
      expect(b.certs.filter((s) => s === toHex(w1!.cert.issuerSignature)).length).toBe(2); // richer and stolen carry it
      expect(b.certs).toContain(toHex(flipped));
      await later.close();
      forgetPrimeOrderKeys();
      const third = await db({ verifier: counting().verifier });
      expect(await third.ingest(night3!)).toMatchObject({ outcome: 'ingested', entries: 3, invalidTokens: 3 });
      await third.close();
    });
  });
}
