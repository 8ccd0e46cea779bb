/**
 * fixtures/wallet/counter_state.json (spec/protocol.md §9.1, §9.4) against the reference: every file read to its
 * state or refused, and every payment answered with its token, the file written after it byte for byte, or the
 * refusal. The payments run twice: over a store in memory, and over the real file (FileCounterStore, with its lock
 * and durable write), whose bytes afterwards must be `next` (unchanged after a refusal).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { fromHex, toHex } from '../../base/hex.js';
import { decodeWalletCert } from '../../src/messages.js';
import { FileCounterStore, parseCounterBytes } from '../../src/node/counter.js';
import { Wallet, type CounterState, type CounterStore } from '../../src/wallet.js';

interface ParseTest { tcId: number; comment: string; file: string; spaces?: number; text?: string; result: 'valid' | 'invalid'; code?: string; state?: Record<string, unknown> }
interface PayTest { tcId: number; comment: string; file: string | null; pay: { payee: number; challenge: string; time: number; amount: number }; result: 'repeated' | 'paid' | 'invalid'; code?: string; token?: string; next?: string }

const v = JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/wallet/counter_state.json'), 'utf8')) as {
  numberOfTests: number;
  wallet: { secretKey: string; certificate: string };
  testGroups: [{ type: 'CounterStateParse'; tests: ParseTest[] }, { type: 'CounterStatePay'; tests: PayTest[] }];
};
const [parseGroup, payGroup] = v.testGroups;
const dir = mkdtempSync(join(tmpdir(), 'offpay-counter-vectors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytesOf = (t: ParseTest) => new Uint8Array([...fromHex(t.file), ...new Uint8Array(t.spaces ?? 0).fill(0x20)]);
const stateJson = (s: CounterState) => ({
  counter: s.counter,
  spent: s.spent,
  ...(s.paid !== undefined ? { paid: s.paid.map((r) => ({ payee: r.payee, challenge: toHex(r.challenge), time: r.time, amount: r.amount, token: toHex(r.token) })) } : {}),
});
const wallet = (counter: CounterStore) => new Wallet({ secretKey: fromHex(v.wallet.secretKey), cert: decodeWalletCert(fromHex(v.wallet.certificate)), counter, clock: () => 1 });
const request = (t: PayTest) => ({ ...t.pay, challenge: fromHex(t.pay.challenge) });

async function outcome(run: () => Promise<Uint8Array>): Promise<{ token?: string; code?: string }> {
  try {
    return { token: toHex(await run()) };
  } catch (e) {
    if (e instanceof OffpayError) return { code: e.code };
    throw e;
  }
}

describe('counter_state.json', () => {
  it('holds the cases it declares, in its two groups, with ids in order', () => {
    expect(parseGroup.type).toBe('CounterStateParse');
    expect(payGroup.type).toBe('CounterStatePay');
    const ids = [...parseGroup.tests, ...payGroup.tests].map((t) => t.tcId);
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    expect(ids.length).toBe(v.numberOfTests);
    // Both verdicts and every outcome are present (a file of one kind could not fail a port that always says it).
    expect(new Set(parseGroup.tests.map((t) => t.result))).toEqual(new Set(['valid', 'invalid']));
    expect(new Set(payGroup.tests.map((t) => t.result))).toEqual(new Set(['repeated', 'paid', 'invalid']));
  });

  it.each(parseGroup.tests.map((t) => [t.tcId, t.comment, t] as const))('parse tcId %i: %s', (_id, _c, t) => {
    if (t.text !== undefined) expect(new TextEncoder().encode(t.text)).toEqual(fromHex(t.file));
    let got: { state?: unknown; code?: string };
    try {
      got = { state: stateJson(parseCounterBytes(bytesOf(t), 'counter.json')) };
    } catch (e) {
      got = { code: (e as OffpayError).code };
    }
    expect(got).toEqual(t.result === 'valid' ? { state: t.state } : { code: t.code });
  });

  it.each(payGroup.tests.map((t) => [t.tcId, t.comment, t] as const))('pay tcId %i: %s', async (_id, _c, t) => {
    const expected = t.result === 'invalid' ? { code: t.code } : { token: t.token };
    // Over a store in memory that reads the bytes when the reservation starts (as the file store reads the file):
    // the state after is `next` when paid, the state before otherwise.
    let state: CounterState | undefined;
    const mem: CounterStore = {
      load: async () => state!,
      reserve: async (step) => {
        if (t.file === null) throw new OffpayError('wallet.counter_missing', 'no counter.json');
        state = step(parseCounterBytes(fromHex(t.file), 'counter.json'));
        return state;
      },
    };
    expect(await outcome(() => wallet(mem).payTo(request(t)))).toEqual(expected);
    if (t.result !== 'invalid') expect(stateJson(state!)).toEqual(stateJson(parseCounterBytes(fromHex(t.next!), 'next')));
    // Over the file itself: its bytes afterwards are `next`, or unchanged (or still none).
    const d = mkdtempSync(join(dir, `tc${t.tcId}-`));
    const path = join(d, 'counter.json');
    if (t.file !== null) writeFileSync(path, fromHex(t.file));
    const onFile = await outcome(() => wallet(new FileCounterStore(path)).payTo(request(t)));
    expect(onFile).toEqual(expected);
    if (t.file === null) expect(existsSync(path)).toBe(false);
    else expect(toHex(readFileSync(path))).toBe(t.result === 'invalid' ? t.file : t.next);
  });
});
