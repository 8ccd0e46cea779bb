/**
 * From an attack review of clearing rule M9 "one request, one settlement" (spec/clearing.md M9, §5 step 0): hostile readers,
 * voids in other journals, M4 re-judging, arrival order, and whether the report, settle lines, payment lookups,
 * refunds, over-allowance and webhooks agree about which token of a request settles. SQLite in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRefund, publicKeyOf, seededSecretKey, tokenHash, toHex } from '../../src/index.js';
import { Clearing } from '../../src/clearing/index.js';
import type { JournalEntry } from '../../src/reader/index.js';
import { paymentState } from '../../src/server/payments.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { HKD, NOW, handBatch, makeIssuer, makeReader, makeWallet, signToken, tailBatch } from '../reader/helpers.js';

const issuer = makeIssuer('zz-m9');
const R = makeReader(issuer, 'zz-m9', 41, 'vending', 90);
const W = [0, 1, 2, 3].map((i) => makeWallet(issuer, 'zz-m9', `w${i}`));
const CLOCK = () => NOW + 3600;
const REQ = { challenge: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), time: NOW - 30 };
const jid = (b: number) => new Uint8Array(8).fill(b);
type M = { secretKey: Uint8Array; cert: typeof R.cert };
const tok = (w: number, counter: number, amount: number, req = REQ, payee = R.cert.readerId) =>
  signToken(W[w]!, { payee, amount, counter, time: req.time, challenge: req.challenge });
const sale = (t: Uint8Array, dt: number, value: number, req = REQ): Omit<JournalEntry, 'seq'> => ({ kind: 'accept', time: NOW + dt, data: t, value, request: req });
const voidOf = (t: Uint8Array, dt: number, value: number): Omit<JournalEntry, 'seq'> => ({ kind: 'void', time: NOW + dt, data: tokenHash(t), value });
const H = (t: Uint8Array) => toHex(tokenHash(t));
const fresh = () => new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });

/** Which tokens settle, per the report, per settle(), and per each token's payment state. */
async function views(c: Clearing, tokens: Uint8Array[]) {
  const rep = await c.report();
  const s = await c.settle(true);
  const states: Record<string, string> = {};
  for (const t of tokens) {
    const f = await c.paymentFacts(tokenHash(t));
    states[H(t)] = f ? paymentState(H(t), f).state + (paymentState(H(t), f).failure ? `:${paymentState(H(t), f).failure!.reason}` : '') : 'none';
  }
  return { rep, settled: new Set(s.tokens.map((x) => x.tokenHash)), states };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('M9 review: who can leave an honest token unsettled', () => {
  it('a limit spec/clearing.md M9 states: with two certificates of one reader id valid at once for two merchants (the issuer\'s mistake, M4), the other key\'s earlier sale for the new merchant\'s request settles and the customer\'s does not; the customer is charged once', async () => {
    // Merchant 95 now holds reader id 41 (a new key); merchant 90's old certificate for id 41 has not expired.
    const oldKey = seededSecretKey('zz-m9-old', 'reader-41');
    const OLD: M = { secretKey: oldKey, cert: issuer.issueReaderCert({ readerId: 41, readerPublicKey: publicKeyOf(oldKey), operatorId: 90, profile: 'vending', notBefore: NOW - 86400 * 300, notAfter: NOW + 86400 * 60 }, NOW - 86400 * 300) };
    const newKey = seededSecretKey('zz-m9-new', 'reader-41');
    const NEW: M = { secretKey: newKey, cert: issuer.issueReaderCert({ readerId: 41, readerPublicKey: publicKeyOf(newKey), operatorId: 95, profile: 'vending', notBefore: NOW - 86400, notAfter: NOW + 86400 * 365 }, NOW - 86400) };
    const honest = tok(0, 1, 1250); // the customer's token for merchant 95's request (shown on its screen)
    const hostile = tok(3, 1, 1250); // the old till's own wallet signs the same (public) request
    const c = fresh();
    try {
      expect(await c.ingest(handBatch(NEW, jid(0x20), [sale(honest, 5, 1250)]))).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
      // Dated before the honest entry, in a journal of the old certificate: it sorts first.
      expect(await c.ingest(handBatch(OLD, jid(0x21), [sale(hostile, 0, 1250)]))).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
      const v = await views(c, [honest, hostile]);
      // One request, one settlement whatever the certificates: the earlier sale (the old till's) settles.
      expect(v.rep.settlement.map((l) => [l.operatorId, l.count])).toEqual([[90, 1]]);
      expect(v.states[H(honest)]).toBe('failed:request_paid_twice');
      expect(v.states[H(hostile)]).toBe('successful');
    } finally {
      await c.close();
    }
  });

  it('the same without overlap (old certificate ends at E, the new one starts after E): the retired till cannot front-run a request of the new merchant in its first 60 s (maxFuture)', async () => {
    const E = NOW;
    const oldKey = seededSecretKey('zz-m9-old2', 'reader-41');
    const OLD: M = { secretKey: oldKey, cert: issuer.issueReaderCert({ readerId: 41, readerPublicKey: publicKeyOf(oldKey), operatorId: 90, profile: 'vending', notBefore: E - 86400 * 300, notAfter: E }, E - 86400 * 300) };
    const newKey = seededSecretKey('zz-m9-new2', 'reader-41');
    const NEW: M = { secretKey: newKey, cert: issuer.issueReaderCert({ readerId: 41, readerPublicKey: publicKeyOf(newKey), operatorId: 95, profile: 'vending', notBefore: E + 1, notAfter: E + 86400 * 365 }, E) };
    const req = { challenge: new Uint8Array([7, 7, 7, 7, 1, 2, 3, 4]), time: E + 30 };
    const honest = tok(0, 2, 1250, req);
    const hostile = tok(3, 2, 1250, req);
    const c = fresh();
    try {
      expect(await c.ingest(handBatch(NEW, jid(0x22), [{ kind: 'accept', time: E + 35, data: honest, value: 1250, request: req }], E + 100))).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
      // Entry dated E (inside the old certificate), token time E + 30 <= E + maxFuture: valid.
      expect(await c.ingest(handBatch(OLD, jid(0x23), [{ kind: 'accept', time: E, data: hostile, value: 1250, request: req }], E))).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
      const v = await views(c, [honest, hostile]);
      expect(v.states[H(honest)], 'the new merchant\'s customer sale is left unsettled').toBe('successful');
    } finally {
      await c.close();
    }
  });

  it('a void in ANOTHER journal naming the winner does not unsettle it nor settle the other token; report, settle and lookups agree', async () => {
    const t1 = tok(0, 1, 100);
    const t2 = tok(1, 1, 100);
    const c = fresh();
    try {
      await c.ingest(handBatch(R, jid(0x30), [sale(t1, 1, 100)]));
      await c.ingest(handBatch(R, jid(0x31), [sale(t2, 2, 100), voidOf(t1, 3, 100)]));
      const v = await views(c, [t1, t2]);
      expect([...v.settled]).toEqual([H(t1)]);
      expect(v.rep.requestsPaidTwice.map((f) => [f.settled.tokenHash, f.unsettled.map((u) => u.tokenHash)])).toEqual([[H(t1), [H(t2)]]]);
      expect(v.states).toEqual({ [H(t1)]: 'successful', [H(t2)]: 'failed:request_paid_twice' });
    } finally {
      await c.close();
    }
  });

  it('the winner voided in its journal but listed again later in another: its first UNVOIDED entry counts, everywhere alike', async () => {
    const t1 = tok(0, 1, 100);
    const t2 = tok(1, 1, 100);
    const c = fresh();
    try {
      await c.ingest(handBatch(R, jid(0x40), [sale(t1, 1, 100), voidOf(t1, 2, 100), sale(t2, 3, 100)]));
      await c.ingest(handBatch(R, jid(0x41), [sale(t1, 5, 100)]));
      const v = await views(c, [t1, t2]);
      expect([...v.settled]).toEqual([H(t2)]);
      expect(v.states).toEqual({ [H(t2)]: 'successful', [H(t1)]: 'failed:request_paid_twice' });
      expect(v.rep.requestsPaidTwice).toHaveLength(1);
      expect(v.rep.requestsPaidTwice[0]!.unsettled[0]).toMatchObject({ tokenHash: H(t1), journalId: toHex(jid(0x41)), seq: 1 });
    } finally {
      await c.close();
    }
  });

  it('entries re-judged under M4 (reader_cert_not_valid, then under a certificate that covers them): same outcome in both arrival orders', async () => {
    // The same reader key certified twice: a certificate that starts after the entries (not covering them) and one that covers them.
    const late: M = { secretKey: R.secretKey, cert: issuer.issueReaderCert({ readerId: 41, readerPublicKey: publicKeyOf(R.secretKey), operatorId: 90, profile: 'vending', notBefore: NOW + 100, notAfter: NOW + 86400 }, NOW) };
    const t1 = tok(0, 1, 100);
    const t2 = tok(1, 1, 100);
    const early = [sale(t2, 1, 100)]; // the earlier token, in journal 0x51
    const other = handBatch(R, jid(0x50), [sale(t1, 2, 100)]);
    const outcomes: unknown[] = [];
    for (const order of [0, 1]) {
      const c = fresh();
      try {
        const bad = handBatch(late, jid(0x51), early, NOW + 200);
        const good = handBatch(R, jid(0x51), early, NOW + 61);
        const seq = order === 0 ? [other, bad, good] : [good, other, bad];
        for (const b of seq) expect((await c.ingest(b)).outcome).not.toBe('rejected');
        const v = await views(c, [t1, t2]);
        outcomes.push({ settled: [...v.settled], states: v.states, findings: v.rep.requestsPaidTwice.map((f) => f.settled.tokenHash) });
      } finally {
        await c.close();
      }
    }
    expect(outcomes[0]).toEqual(outcomes[1]);
    expect(outcomes[0]).toMatchObject({ settled: [H(t2)] });
  });

  it('two honest requests of one reader (distinct challenges) and payment codes with one challenge are never compared', async () => {
    const r2 = { challenge: new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9]), time: REQ.time };
    const code = { challenge: new Uint8Array([0, 0, 0, 0, 0, 1, 2, 3]), time: 0 };
    const a = tok(0, 1, 100);
    const b = tok(1, 1, 100, r2);
    const k1 = signToken(W[2]!, { payee: 41, amount: 300, counter: 1, time: 0, challenge: code.challenge });
    const k2 = signToken(W[3]!, { payee: 41, amount: 300, counter: 1, time: 0, challenge: code.challenge });
    const c = fresh();
    try {
      expect(await c.ingest(handBatch(R, jid(0x60), [sale(a, 1, 100), sale(b, 2, 100, r2), sale(k1, 3, 300, code), sale(k2, 4, 300, code)]))).toMatchObject({ invalidTokens: 0 });
      const v = await views(c, [a, b, k1, k2]);
      expect(v.settled.size).toBe(4);
      expect(v.rep.requestsPaidTwice).toEqual([]);
    } finally {
      await c.close();
    }
  });
});

describe('M9 review: the failed state names the right entry', () => {
  it('request_paid_twice evidence.entry is the token\'s sale at ITS reader, not another reader\'s entry with the same journal id and seq', async () => {
    // Reader 46 (another merchant) uploads the loser's bytes in a journal with the same id, seq 1, dated earlier:
    // invalid there (wrong_payee), but it is among the token's entries and sorts first.
    const X = makeReader(issuer, 'zz-m9', 46, 'vending', 92);
    const t1 = tok(0, 1, 100);
    const t2 = tok(1, 1, 100);
    const c = fresh();
    try {
      await c.ingest(handBatch(R, jid(0xd0), [sale(t1, 5, 100), sale(t2, 6, 100)]));
      await c.ingest(handBatch(X, jid(0xd0), [{ kind: 'accept', time: NOW + 1, data: t1, value: 100 }, { kind: 'accept', time: NOW + 2, data: t2, value: 100 }]));
      const st = paymentState(H(t2), (await c.paymentFacts(tokenHash(t2)))!);
      expect(st.failure?.reason).toBe('request_paid_twice');
      expect(st.evidence.entry, 'the evidence entry is reader 46\'s invalid entry, not the sale at reader 41').toMatchObject({ readerId: 41, journalId: toHex(jid(0xd0)), seq: 2, valid: true });
    } finally {
      await c.close();
    }
  });
});

describe('M9 review: ordering of the first entry', () => {
  it('same time: journal id bytewise (0x7f.. before 0x80..), then seq numerically (9 before 10); report and lookups agree', async () => {
    const t80 = tok(0, 1, 100);
    const t7f = tok(1, 1, 100);
    const c = fresh();
    try {
      await c.ingest(handBatch(R, jid(0x80), [sale(t80, 1, 100)]));
      await c.ingest(handBatch(R, jid(0x7f), [sale(t7f, 1, 100)]));
      const v = await views(c, [t80, t7f]);
      expect([...v.settled]).toEqual([H(t7f)]);
      expect(v.states[H(t7f)]).toBe('successful');
    } finally {
      await c.close();
    }
    // seq 9 vs seq 10 in one journal at one time (fillers of other requests before them).
    const fill = Array.from({ length: 8 }, (_, i) => sale(tok(2, 10 + i, 1, { challenge: new Uint8Array(8).fill(0x70 + i), time: REQ.time }), 1, 1, { challenge: new Uint8Array(8).fill(0x70 + i), time: REQ.time }));
    const s9 = tok(0, 2, 100);
    const s10 = tok(1, 2, 100);
    const d = fresh();
    try {
      await d.ingest(handBatch(R, jid(0x90), [...fill, sale(s9, 1, 100), sale(s10, 1, 100)]));
      const v = await views(d, [s9, s10]);
      expect(v.states[H(s9)]).toBe('successful');
      expect(v.states[H(s10)]).toBe('failed:request_paid_twice');
    } finally {
      await d.close();
    }
  });
});

describe('M9 review: everything agrees on the token that settles', () => {
  it('over-allowance and blocklist count only the settling token of a request', async () => {
    const small = makeWallet(issuer, 'zz-m9', 'small', { maxPerPayment: 150, offlineAllowance: 150 });
    const t1 = signToken(small, { payee: 41, amount: 100, counter: 1, time: REQ.time, challenge: REQ.challenge });
    const t2 = signToken(small, { payee: 41, amount: 100, counter: 2, time: REQ.time, challenge: REQ.challenge });
    const c = fresh();
    try {
      await c.ingest(handBatch(R, jid(0xa0), [sale(t1, 1, 100), sale(t2, 2, 100)]));
      const rep = await c.report();
      expect(rep.overAllowance).toEqual([]);
      expect(await c.blockOverAllowance(NOW + 4000)).toBe(0);
      const f = await c.paymentFacts(tokenHash(t1));
      expect(f!.blocked).toBe(false);
    } finally {
      await c.close();
    }
  });

  it('a refunded winner unsettled by a late earlier token: refund_unsettled in the report AND in the refund page; the late token is the one that settles', async () => {
    const t1 = tok(0, 1, 100);
    const t0 = tok(1, 1, 100);
    const c = fresh();
    try {
      await c.ingest(handBatch(R, jid(0xb0), [sale(t1, 10, 100)]));
      const refund = createRefund({ readerCert: R.cert, secretKey: R.secretKey }, { tokenHash: tokenHash(t1), amount: 100, currency: HKD, time: NOW + 600 }).bytes;
      expect(await c.refund(refund, NOW + 700)).toMatchObject({ outcome: 'accepted' });
      await c.ingest(handBatch(R, jid(0xb1), [sale(t0, 1, 100)]));
      const rep = await c.report();
      expect(rep.refundProblems.map((p) => [p.refund.tokenHash, p.why])).toEqual([[H(t1), 'not_settled']]);
      const page = await c.refundPage(0, 10);
      expect(page.problems.map((p) => [p.refund.tokenHash, p.why])).toEqual([[H(t1), 'not_settled']]);
      const rr = await c.refundReport();
      expect(rr.problems.map((p) => [p.refund.tokenHash, p.why])).toEqual([[H(t1), 'not_settled']]);
      const st1 = paymentState(H(t1), (await c.paymentFacts(tokenHash(t1)))!);
      expect(st1.state).toBe('refunded');
      expect(paymentState(H(t0), (await c.paymentFacts(tokenHash(t0)))!).state).toBe('successful');
    } finally {
      await c.close();
    }
  });

  it('webhooks: once a later batch voids the winner, the other token of the request settles and its charge.complete is queued (the void names its token; the request\'s new settling token is looked up)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zz-m9-hooks-'));
    dirs.push(dir);
    const outbox = new SqliteWebhookOutbox(join(dir, 'w.db'));
    const hooks = new WebhookService({ url: 'http://127.0.0.1:59999/hooks', secret: '5f'.repeat(32), outbox, pollMs: 10, clock: CLOCK });
    const t1 = tok(0, 1, 100);
    const t2 = tok(1, 1, 100);
    const c = fresh();
    try {
      // The reader took two tokens for one request (t1 first), then voided t1 (gave the customer back t1's money).
      await hooks.ingestBatch(c, handBatch(R, jid(0xc0), [sale(t1, 1, 100), sale(t2, 2, 100)]));
      expect(await outbox.get(eventId('charge.complete', H(t1)))).toBeDefined();
      expect(await outbox.get(eventId('charge.complete', H(t2)))).toBeUndefined();
      // The void comes in the journal's next batch (it names t1 only).
      expect(await hooks.ingestBatch(c, tailBatch(R, jid(0xc0), [sale(t1, 1, 100), sale(t2, 2, 100), voidOf(t1, 3, 100)], 2, 2))).toMatchObject({ outcome: 'ingested' });
      // t2 now settles: the merchant is paid for it.
      expect(paymentState(H(t2), (await c.paymentFacts(tokenHash(t2)))!).state).toBe('successful');
      expect(await outbox.get(eventId('charge.complete', H(t2))), 't2 became successful and no charge.complete was queued for it').toBeDefined();
    } finally {
      await c.close();
      await outbox.close();
    }
  });
});
