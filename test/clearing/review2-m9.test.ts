/**
 * From a second attack review of M9 "one request, one settlement", after a fix that had made the operator part of the request (undone: it let one reader id under two operators have two tokens of one request settled)
 * (spec/clearing.md M9, §5 step 0). SQLite in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRequest, publicKeyOf, seededSecretKey, tokenHash, toHex } from '../../src/index.js';
import { Clearing } from '../../src/clearing/index.js';
import type { JournalEntry } from '../../src/reader/index.js';
import { paymentState } from '../../src/server/payments.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { NOW, handBatch, makeIssuer, makeWallet, prng, signToken, tailBatch, makeReader } from '../reader/helpers.js';

const issuer = makeIssuer('zz2-m9');
const CLOCK = () => NOW + 3600;
const REQ = { challenge: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), time: NOW - 30 };
const W = [0, 1, 2, 3, 4, 5].map((i) => makeWallet(issuer, 'zz2-m9', `w${i}`));
const jid = (b: number) => new Uint8Array(8).fill(b);
const H = (t: Uint8Array) => toHex(tokenHash(t));
type M = { secretKey: Uint8Array; cert: ReturnType<typeof issuer.issueReaderCert> };
// Two certificates of reader id 41, both valid now (the overlap of a re-certification, spec/clearing.md M4).
const A = makeReader(issuer, 'zz2-a', 41, 'vending', 90);
const B = makeReader(issuer, 'zz2-b', 41, 'vending', 95);
const tok = (w: number, counter: number, amount = 1250, req = REQ) => signToken(W[w]!, { payee: 41, amount, counter, time: req.time, challenge: req.challenge });
const sale = (t: Uint8Array, dt: number, value = 1250, req = REQ): Omit<JournalEntry, 'seq'> => ({ kind: 'accept', time: NOW + dt, data: t, value, request: req });
const voidOf = (t: Uint8Array, dt: number, value = 1250): Omit<JournalEntry, 'seq'> => ({ kind: 'void', time: NOW + dt, data: tokenHash(t), value });
const fresh = () => new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });

async function views(c: Clearing, tokens: Uint8Array[]) {
  const rep = await c.report();
  const s = await c.settle(true);
  const lookup: Record<string, string> = {};
  for (const t of tokens) {
    const f = await c.paymentFacts(tokenHash(t));
    lookup[H(t)] = f ? paymentState(H(t), f).state : 'none';
  }
  const settled = new Set(s.tokens.map((x) => x.tokenHash));
  const bySettle: Record<string, string> = {};
  for (const t of tokens) bySettle[H(t)] = settled.has(H(t)) ? 'successful' : 'failed';
  return { rep, settled, lookup, bySettle };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('review2 M9: the operator in the request', () => {
  it('two certificates of one reader id are one request (no escape): one reader id holding two valid certificates (operators 90 and 95); a REAL Wallet (memory on) asked for one request twice with the amount changed by 1, one token filed under each certificate: both settle, the customer pays twice', async () => {
    const w = makeWallet(issuer, 'zz2-m9', 'real').wallet;
    const ik = issuer.keySet();
    // The reader signs the same request (challenge, time) twice, 12.50 then 12.51: the wallet's memory keys on the amount too.
    const t1 = await w.pay(createRequest(A, { amount: 1250, currency: 344, time: REQ.time, challenge: REQ.challenge }).bytes, { issuerKeys: ik, time: NOW });
    const t2 = await w.pay(createRequest(B, { amount: 1251, currency: 344, time: REQ.time, challenge: REQ.challenge }).bytes, { issuerKeys: ik, time: NOW });
    const c = fresh();
    try {
      expect(await c.ingest(handBatch(A, jid(0x10), [sale(t1, 1, 1250)]))).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
      expect(await c.ingest(handBatch(B, jid(0x11), [sale(t2, 2, 1251)]))).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
      const v = await views(c, [t1, t2]);
      expect(v.settled.size, `both tokens of one request settle (lines: ${JSON.stringify(v.rep.settlement.map((l) => [l.operatorId, l.count]))}, requestsPaidTwice ${v.rep.requestsPaidTwice.length}): the customer paid twice`).toBe(1);
    } finally {
      await c.close();
    }
  });

  it('one request across a re-certification (no escape) in one journal: the same reader key re-certified from operator 90 to 95 mid-journal (batch 1 under the old certificate, batch 2 under the new), two tokens of one request: both settle', async () => {
    const sk = seededSecretKey('zz2-same', 'reader-41');
    const old: M = { secretKey: sk, cert: issuer.issueReaderCert({ readerId: 41, readerPublicKey: publicKeyOf(sk), operatorId: 90, profile: 'vending', notBefore: NOW - 86400, notAfter: NOW + 86400 }, NOW - 86400) };
    const neu: M = { secretKey: sk, cert: issuer.issueReaderCert({ readerId: 41, readerPublicKey: publicKeyOf(sk), operatorId: 95, profile: 'vending', notBefore: NOW - 10, notAfter: NOW + 86400 * 60 }, NOW - 10) };
    const t1 = tok(1, 1);
    const t2 = tok(1, 2);
    const c = fresh();
    try {
      const es = [sale(t1, 1), sale(t2, 2)];
      expect(await c.ingest(handBatch(old, jid(0x12), es.slice(0, 1)))).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
      // The journal's next batch, carried by the new certificate (same key).
      expect(await c.ingest(tailBatch(neu, jid(0x12), es, 1, 2))).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
      const v = await views(c, [t1, t2]);
      expect(v.settled.size, 'both tokens of one request settle').toBe(1);
    } finally {
      await c.close();
    }
  });

  it('one token filed under both operators (earliest under 90, later under 95 behind another token): settle and the lookups agree', async () => {
    const t1 = tok(2, 1);
    const t2 = tok(3, 1);
    const c = fresh();
    try {
      expect(await c.ingest(handBatch(A, jid(0x20), [sale(t1, 1)]))).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
      expect(await c.ingest(handBatch(B, jid(0x21), [sale(t2, 2), sale(t1, 3)]))).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
      const v = await views(c, [t1, t2]);
      expect(v.lookup, `report: ${JSON.stringify(v.rep.requestsPaidTwice.map((f) => [f.settled.tokenHash.slice(0, 8), f.unsettled.map((u) => u.tokenHash.slice(0, 8))]))}`).toEqual(v.bySettle);
    } finally {
      await c.close();
    }
  });

  it('webhooks: no charge.complete for a token that settle() does not settle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zz2-m9-hooks-'));
    dirs.push(dir);
    const outbox = new SqliteWebhookOutbox(join(dir, 'w.db'));
    const hooks = new WebhookService({ url: 'http://127.0.0.1:59999/hooks', secret: '5f'.repeat(32), outbox, pollMs: 10, clock: CLOCK });
    const t1 = tok(2, 2);
    const t2 = tok(3, 2);
    const c = fresh();
    try {
      await hooks.ingestBatch(c, handBatch(A, jid(0x22), [sale(t1, 1)]));
      await hooks.ingestBatch(c, handBatch(B, jid(0x23), [sale(t2, 2), sale(t1, 3)]));
      const settled = new Set((await c.settle(true)).tokens.map((x) => x.tokenHash));
      for (const t of [t1, t2]) {
        const queued = (await outbox.get(eventId('charge.complete', H(t)))) !== undefined;
        if (queued) expect(settled.has(H(t)), `charge.complete queued for ${H(t).slice(0, 8)}, which settle() leaves unsettled`).toBe(true);
      }
    } finally {
      await c.close();
      await outbox.close();
    }
  });

});

describe('review2 M9: report and lookups agree (SQLite window query), tokens each under one operator', () => {
  it('random requests, journals, operators and voids: report/settle and paymentFacts agree on every token (40 seeds)', async () => {
    const bad: string[] = [];
    for (let seed = 1; seed <= 40; seed++) {
      const rnd = prng(seed);
      const pick = (n: number) => Math.floor(rnd() * n);
      const reqs = [REQ, { challenge: new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9]), time: REQ.time }, { challenge: REQ.challenge, time: REQ.time + 1 }];
      const certs = [A, B];
      const c = fresh();
      try {
        // Tokens: each belongs to one request and one operator; listed in 1..2 journals of its operator, maybe voided in some.
        const journals = new Map<string, { m: M; id: Uint8Array; es: Omit<JournalEntry, 'seq'>[] }>();
        const all: Uint8Array[] = [];
        let counter = 100;
        for (let i = 0; i < 8; i++) {
          const q = reqs[pick(reqs.length)]!;
          const op = pick(2);
          const t = signToken(W[pick(W.length)]!, { payee: 41, amount: 100, counter: counter++, time: q.time, challenge: q.challenge });
          all.push(t);
          const n = 1 + pick(2);
          for (let k = 0; k < n; k++) {
            const j = op * 4 + pick(4);
            const key = String(j);
            if (!journals.has(key)) journals.set(key, { m: certs[op]!, id: jid(j * 0x11 + (j & 1 ? 0x80 : 0)), es: [] });
            const jr = journals.get(key)!;
            jr.es.push(sale(t, pick(5), 100, q));
            if (rnd() < 0.3) jr.es.push(voidOf(t, 6, 100));
          }
        }
        for (const jr of journals.values()) expect(await c.ingest(handBatch(jr.m, jr.id, jr.es))).toMatchObject({ outcome: 'ingested' });
        const v = await views(c, all);
        for (const t of all) if (v.lookup[H(t)] !== 'none' && v.lookup[H(t)] !== 'voided' && (v.lookup[H(t)] === 'successful') !== v.settled.has(H(t))) bad.push(`seed ${seed} ${H(t).slice(0, 8)} lookup ${v.lookup[H(t)]} settle ${v.settled.has(H(t))}`);
        const excluded = new Set(v.rep.requestsPaidTwice.flatMap((f) => f.unsettled.map((u) => u.tokenHash)));
        for (const t of all) if (excluded.has(H(t)) && v.settled.has(H(t))) bad.push(`seed ${seed} excluded but settled`);
      } finally {
        await c.close();
      }
    }
    expect(bad).toEqual([]);
  });
});
