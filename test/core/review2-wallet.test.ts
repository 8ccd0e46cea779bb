/**
 * Review 2 of the wallet fixes: Wallet.pay refuses time 0, the remembered token is checked, Wallet.payResult's
 * `repeated` (src/wallet.ts, spec/protocol.md §9.1, §9.4).
 */
import { describe, expect, it } from 'vitest';
import { createRequest, decodeToken, MemoryCounterStore, toHex, Wallet, type CounterState, type CounterStore } from '../../src/index.js';
import { NOW, makeIssuer, makeReader, makeWallet } from '../reader/helpers.js';

const issuer = makeIssuer('zz2-wallet');
const R = makeReader(issuer, 'zz2-wallet', 47, 'vending', 90);
const ch = (b: number) => new Uint8Array(8).fill(b);
const req = (amount: number, c = ch(1), time = NOW - 5) => createRequest(R, { amount, currency: 344, time, challenge: c }).bytes;
const walletOn = (store: CounterStore, label = 'v') => {
  const w = makeWallet(issuer, 'zz2-wallet', label);
  return new Wallet({ secretKey: w.secretKey, cert: w.cert, counter: store, clock: () => NOW });
};

describe('review2 wallet: payResult.repeated', () => {
  it('a CounterStore that retries its step (optimistic write lost a race): the first try found the request remembered, the retry no longer does and signs a NEW token; payResult must not say repeated', async () => {
    // Another process paid the request earlier (its token is remembered), then 16 more requests pushed it out
    // between this store's first read and its retry.
    const seedStore = new MemoryCounterStore();
    const other = walletOn(seedStore);
    await other.pay(req(100));
    const remembered = await seedStore.load();
    for (let i = 0; i < 16; i++) await other.pay(req(1, ch(0x40 + i)));
    const later = await seedStore.load();
    let calls = 0;
    const retrying: CounterStore = {
      load: async () => later,
      reserve: async (step) => {
        calls++;
        step({ ...remembered }); // first try: its write loses the race, the result is dropped
        const next = step({ ...later }); // retry on the state now current
        return next;
      },
    };
    const w = walletOn(retrying);
    const r = await w.payResult(req(100));
    expect(calls).toBe(1);
    const spent = decodeToken(r.token).counter;
    expect(spent, 'the retry signed a new counter').toBe(later.counter + 1);
    expect(r.repeated, 'a new counter was spent, yet payResult says repeated (nothing spent)').toBe(false);
  });

  it('holds: two calls at once on one object, two objects on one store, pay then payTo: exactly one not-repeated, the same bytes', async () => {
    const store = new MemoryCounterStore();
    const a = walletOn(store);
    const b = walletOn(store);
    const rs = await Promise.all([a.payResult(req(200, ch(2))), a.payResult(req(200, ch(2))), b.payResult(req(200, ch(2)))]);
    expect(rs.map((r) => r.repeated)).toEqual([false, true, true]);
    expect(new Set(rs.map((r) => toHex(r.token))).size).toBe(1);
    expect(rs[0]!.token).not.toBe(rs[1]!.token);
    // payTo with the request's fields returns the remembered token; payResult after it still says repeated.
    const t = await b.payTo({ payee: 47, amount: 200, challenge: ch(2), time: NOW - 5 });
    expect(toHex(t)).toBe(toHex(rs[0]!.token));
    expect((await b.payResult(req(200, ch(2)))).repeated).toBe(true);
    expect((await store.load()).counter).toBe(1);
  });
});

describe('review2 wallet: the remembered token check', () => {
  it('a custom store whose `paid` is not an array, or an item without a challenge: a typed error (wallet.counter_corrupt), not a TypeError', async () => {
    const bad1 = new MemoryCounterStore({ counter: 3, spent: 0, paid: {} as unknown as CounterState['paid'] });
    const e1 = await walletOn(bad1).pay(req(100, ch(3))).catch((e: unknown) => e);
    const bad2 = new MemoryCounterStore({ counter: 3, spent: 0, paid: [{ payee: 47, time: NOW - 5, amount: 100, token: new Uint8Array(1) } as never] });
    const e2 = await walletOn(bad2).pay(req(100, ch(3))).catch((e: unknown) => e);
    expect([(e1 as { code?: string }).code ?? String(e1), (e2 as { code?: string }).code ?? String(e2)]).toEqual(['wallet.counter_corrupt', 'wallet.counter_corrupt']);
  });

  it('holds: a remembered token that is a string, an empty array, another wallet\'s token, a one-way token of this wallet: wallet.counter_corrupt, nothing spent', async () => {
    const mine = walletOn(new MemoryCounterStore());
    const oneWay = await mine.payTo({ payee: 47, amount: 100 });
    const others = await walletOn(new MemoryCounterStore(), 'x').pay(req(100, ch(4)));
    for (const token of ['00' as unknown as Uint8Array, new Uint8Array(0), others, oneWay]) {
      const store = new MemoryCounterStore({ counter: 5, spent: 0, paid: [{ payee: 47, challenge: ch(4), time: NOW - 5, amount: 100, token }] });
      const e = await walletOn(store).pay(req(100, ch(4))).catch((x: unknown) => x);
      expect((e as { code?: string }).code).toBe('wallet.counter_corrupt');
      expect((await store.load()).counter).toBe(5);
    }
  });
});
