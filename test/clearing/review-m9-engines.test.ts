/**
 * From an attack review of M9 on PostgreSQL: the first entry's order (time, journal id bytewise, seq) in SQL equals decideRequests'
 * and SQLite's, for journal ids whose bytes are above 0x7f; the report, settle and lookups agree; voids of another
 * journal; entries re-judged under M4.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { publicKeyOf, tokenHash, toHex } from '../../src/index.js';
import { Clearing } from '../../src/clearing/index.js';
import type { JournalEntry } from '../../src/reader/index.js';
import { paymentState } from '../../src/server/payments.js';
import { startPgCluster } from './pg-cluster.js';
import { NOW, handBatch, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';

const issuer = makeIssuer('zz-m9-pg');
const R = makeReader(issuer, 'zz-m9-pg', 44, 'vending', 90);
const W = [0, 1, 2, 3, 4, 5].map((i) => makeWallet(issuer, 'zz-m9-pg', `w${i}`));
const CLOCK = () => NOW + 3600;
const REQ = { challenge: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), time: NOW - 30 };
const tok = (w: number, counter: number) => signToken(W[w]!, { payee: 44, amount: 100, counter, time: REQ.time, challenge: REQ.challenge });
const sale = (t: Uint8Array, dt: number): Omit<JournalEntry, 'seq'> => ({ kind: 'accept', time: NOW + dt, data: t, value: 100, request: REQ });
const voidOf = (t: Uint8Array, dt: number): Omit<JournalEntry, 'seq'> => ({ kind: 'void', time: NOW + dt, data: tokenHash(t), value: 100 });
const H = (t: Uint8Array) => toHex(tokenHash(t));
const jid = (...b: number[]) => Uint8Array.from(b.length === 8 ? b : new Array(8).fill(b[0]));

const started = await startPgCluster();
const engines: [string, () => Promise<Clearing>][] = [['SQLite', async () => new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK })]];
if (typeof started !== 'string') {
  afterAll(() => started.stop());
  engines.push(['PostgreSQL', async () => Clearing.open({ url: await started.createDatabase(), issuerKeys: issuer.keySet(), clock: CLOCK })]);
} else {
  process.stderr.write(`review-m9-engines.test.ts: PostgreSQL skipped, ${started}\n`);
}

async function winner(c: Clearing, tokens: Uint8Array[]) {
  const rep = await c.report();
  const s = await c.settle(true);
  const states = new Map<string, string>();
  for (const t of tokens) states.set(H(t), paymentState(H(t), (await c.paymentFacts(tokenHash(t)))!).state);
  return {
    settle: s.tokens.map((x) => x.tokenHash),
    report: rep.requestsPaidTwice.map((f) => f.settled.tokenHash),
    lookup: [...states].filter(([, v]) => v === 'successful').map(([k]) => k),
  };
}

for (const [name, fresh] of engines) {
  describe(`M9 review on ${name}`, () => {
    it('same time: journal ids 0x00.., 0x7f.., 0x80.., 0xff.. (and 0x80 00.. vs 0x7f ff..): the bytewise-first wins in report, settle and lookups', async () => {
      const ids = [jid(0xff), jid(0x80, 0, 0, 0, 0, 0, 0, 0), jid(0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), jid(0x80), jid(0x00, 0xff, 0, 0, 0, 0, 0, 0)];
      const tokens = ids.map((_, i) => tok(i, 1));
      const c = await fresh();
      try {
        for (const [i, id] of ids.entries()) expect(await c.ingest(handBatch(R, id, [sale(tokens[i]!, 1)]))).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
        const w = await winner(c, tokens);
        const want = H(tokens[4]!); // 00 ff ..
        expect(w).toEqual({ settle: [want], report: [want], lookup: [want] });
      } finally {
        await c.close();
      }
      // Without the 0x00 journal: 0x7f ff.. before 0x80 00..
      const d = await fresh();
      try {
        for (const [i, id] of ids.slice(0, 4).entries()) await d.ingest(handBatch(R, id, [sale(tokens[i]!, 1)]));
        const want = H(tokens[2]!);
        expect(await winner(d, tokens.slice(0, 4))).toEqual({ settle: [want], report: [want], lookup: [want] });
      } finally {
        await d.close();
      }
    }, 120_000);

    it('a void of the winner in another journal and a voided-then-relisted winner: report, settle and lookups agree', async () => {
      const [t1, t2, t3] = [tok(0, 1), tok(1, 1), tok(2, 1)];
      const c = await fresh();
      try {
        await c.ingest(handBatch(R, jid(0x90), [sale(t1, 1), voidOf(t1, 2), sale(t2, 3)]));
        await c.ingest(handBatch(R, jid(0x91), [sale(t3, 4), voidOf(t2, 5), sale(t1, 6)]));
        // t1: voided in 0x90, first unvoided at 6 (0x91); t2: 3 (0x90, its void is in 0x91: not its journal); t3: 4.
        const want = H(t2);
        expect(await winner(c, [t1, t2, t3])).toEqual({ settle: [want], report: [want], lookup: [want] });
      } finally {
        await c.close();
      }
    }, 120_000);

    it('M4: an earlier sale first held as reader_cert_not_valid, then under a covering certificate, wins (both orders)', async () => {
      const late = { secretKey: R.secretKey, cert: issuer.issueReaderCert({ readerId: 44, readerPublicKey: publicKeyOf(R.secretKey), operatorId: 90, profile: 'vending', notBefore: NOW + 100, notAfter: NOW + 86400 }, NOW) };
      const [t1, t2] = [tok(0, 5), tok(1, 5)];
      const other = handBatch(R, jid(0xa0), [sale(t1, 2)]);
      for (const order of [0, 1]) {
        const bad = handBatch(late, jid(0xa1), [sale(t2, 1)], NOW + 200);
        const good = handBatch(R, jid(0xa1), [sale(t2, 1)], NOW + 61);
        const c = await fresh();
        try {
          for (const b of order ? [good, other, bad] : [other, bad, good]) expect((await c.ingest(b)).outcome).not.toBe('rejected');
          const want = H(t2);
          expect(await winner(c, [t1, t2])).toEqual({ settle: [want], report: [want], lookup: [want] });
        } finally {
          await c.close();
        }
      }
    }, 120_000);
  });
}
