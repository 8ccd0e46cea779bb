/**
 * Review 2 of M9 on PostgreSQL (and SQLite alongside): a token filed under two operators of one reader id
 * (report/settle vs lookup), and a random model of tokens each under one operator (group-then-join query).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { tokenHash, toHex } from '../../src/index.js';
import { Clearing } from '../../src/clearing/index.js';
import type { JournalEntry } from '../../src/reader/index.js';
import { paymentState } from '../../src/server/payments.js';
import { startPgCluster } from './pg-cluster.js';
import { NOW, handBatch, makeIssuer, makeWallet, prng, signToken, makeReader } from '../reader/helpers.js';

const issuer = makeIssuer('zz2-m9pg');
const CLOCK = () => NOW + 3600;
const REQ = { challenge: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), time: NOW - 30 };
const W = [0, 1, 2, 3].map((i) => makeWallet(issuer, 'zz2-m9pg', `w${i}`));
const jid = (b: number) => new Uint8Array(8).fill(b);
const H = (t: Uint8Array) => toHex(tokenHash(t));
type M = { secretKey: Uint8Array; cert: ReturnType<typeof issuer.issueReaderCert> };
// Two certificates of reader id 41, both valid now (the overlap of a re-certification, spec/clearing.md M4).
const A = makeReader(issuer, 'zz2-pga', 41, 'vending', 90);
const B = makeReader(issuer, 'zz2-pgb', 41, 'vending', 95);
type Req = { challenge: Uint8Array; time: number };
const sale = (t: Uint8Array, dt: number, req: Req = REQ): Omit<JournalEntry, 'seq'> => ({ kind: 'accept', time: NOW + dt, data: t, value: 100, request: req });
const voidOf = (t: Uint8Array, dt: number): Omit<JournalEntry, 'seq'> => ({ kind: 'void', time: NOW + dt, data: tokenHash(t), value: 100 });

const started = await startPgCluster();
const engines: [string, () => Promise<Clearing>][] = [['SQLite', async () => new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK })]];
if (typeof started !== 'string') {
  afterAll(() => started.stop());
  engines.push(['PostgreSQL', async () => Clearing.open({ url: await started.createDatabase(), issuerKeys: issuer.keySet(), clock: CLOCK })]);
} else process.stderr.write(`PostgreSQL skipped: ${started}\n`);

async function disagreements(c: Clearing, tokens: Uint8Array[]): Promise<string[]> {
  const s = new Set((await c.settle(true)).tokens.map((x) => x.tokenHash));
  const out: string[] = [];
  for (const t of tokens) {
    const f = await c.paymentFacts(tokenHash(t));
    const st = f ? paymentState(H(t), f).state : 'none';
    if ((st === 'successful') !== s.has(H(t))) out.push(`${H(t).slice(0, 8)} lookup ${st}, settle ${s.has(H(t))}`);
  }
  return out;
}

for (const [name, fresh] of engines) {
  describe(`review2 M9 on ${name}`, () => {
    it('a token under both operators (first under 90, behind another token under 95): lookup and settle agree', async () => {
      const t1 = signToken(W[0]!, { payee: 41, amount: 100, counter: 1, time: REQ.time, challenge: REQ.challenge });
      const t2 = signToken(W[1]!, { payee: 41, amount: 100, counter: 1, time: REQ.time, challenge: REQ.challenge });
      const c = await fresh();
      try {
        await c.ingest(handBatch(A, jid(0x20), [sale(t1, 1)]));
        await c.ingest(handBatch(B, jid(0x21), [sale(t2, 2), sale(t1, 3)]));
        expect(await disagreements(c, [t1, t2])).toEqual([]);
      } finally {
        await c.close();
      }
    });

    it('holds: random tokens each under one operator, several journals, voids (15 seeds): lookup and settle agree', async () => {
      const bad: string[] = [];
      for (let seed = 1; seed <= 15; seed++) {
        const rnd = prng(seed * 7);
        const pick = (n: number) => Math.floor(rnd() * n);
        const reqs = [REQ, { challenge: new Uint8Array(8).fill(9), time: REQ.time }];
        const c = await fresh();
        try {
          const js = new Map<number, { m: M; es: Omit<JournalEntry, 'seq'>[] }>();
          const all: Uint8Array[] = [];
          for (let i = 0; i < 7; i++) {
            const q = reqs[pick(2)]!;
            const op = pick(2);
            const t = signToken(W[pick(4)]!, { payee: 41, amount: 100, counter: 100 + i, time: q.time, challenge: q.challenge });
            all.push(t);
            for (let k = 1 + pick(2); k > 0; k--) {
              const j = op * 3 + pick(3);
              if (!js.has(j)) js.set(j, { m: op ? B : A, es: [] });
              js.get(j)!.es.push(sale(t, pick(4), q));
              if (rnd() < 0.3) js.get(j)!.es.push(voidOf(t, 5));
            }
          }
          for (const [j, x] of js) await c.ingest(handBatch(x.m, jid(0x30 + j * 0x19), x.es));
          bad.push(...(await disagreements(c, all)).map((d) => `seed ${seed}: ${d}`));
        } finally {
          await c.close();
        }
      }
      expect(bad).toEqual([]);
    }, 120_000);
  });
}
