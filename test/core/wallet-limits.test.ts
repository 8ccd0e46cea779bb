/**
 * spec/protocol.md §9.3 (finding 13): an issuer certifies only limits every reader and clearing can add up
 * exactly and that keep a token within its size budget: 0 < maxPerPayment <= offlineAllowance <= MAX_WALLET_LIMIT
 * = 2^32 - 1 minor units (uint32, the bound of every amount on the wire).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Issuer, MAX_TOKEN_AMOUNT, MAX_WALLET_LIMIT, OffpayError, checkWalletLimits, dayOf, publicKeyOf, seededSecretKey } from '../../src/index.js';
import { main } from '../../src/cli/main.js';

const NOW = 1_795_000_000;
const issuer = Issuer.fromSecret(1, 1, seededSecretKey('limits', 'issuer'), NOW - 86400, NOW + 86400 * 365);
const body = (maxPerPayment: number, offlineAllowance: number) => ({
  walletPublicKey: publicKeyOf(seededSecretKey('limits', 'wallet')),
  expiryDay: dayOf(NOW) + 30,
  maxPerPayment,
  offlineAllowance,
  currency: 344,
});
const issue = (m: number, a: number) => issuer.issueWalletCert(body(m, a), NOW);

describe('wallet certificate limits (finding 13)', () => {
  it('the bound is uint32 and keeps every per-wallet sum exact: allowance + one payment < 2^53', () => {
    expect(MAX_WALLET_LIMIT).toBe(2 ** 32 - 1);
    expect(MAX_WALLET_LIMIT).toBe(MAX_TOKEN_AMOUNT);
    expect(Number.isSafeInteger(MAX_WALLET_LIMIT + MAX_WALLET_LIMIT)).toBe(true);
    // 2^32 counters x 2^32 - 1 minor units is beyond 2^53: such sums (one key over many certificates) are bigint in clearing.
    expect(Number.isSafeInteger(2 ** 32 * MAX_WALLET_LIMIT)).toBe(false);
  });

  it.each([
    ['a zero maxPerPayment', 0, 100],
    ['a zero allowance', 1, 0],
    ['a negative maxPerPayment', -5, 100],
    ['a fractional maxPerPayment', 1.5, 100],
    ['a fractional allowance', 1, 100.5],
    ['an allowance below maxPerPayment', 501, 500],
    ['an allowance one above the bound', 1, MAX_WALLET_LIMIT + 1],
    ['maxPerPayment above the bound', MAX_WALLET_LIMIT + 1, MAX_WALLET_LIMIT + 1],
    ['an unsafe allowance (2^53 + 1)', 1, 2 ** 53 + 1],
    ['NaN', Number.NaN, 100],
    ['Infinity', 1, Number.POSITIVE_INFINITY],
  ])('refuses %s with issuer.bad_wallet_limits', (_n, m, a) => {
    expect(() => issue(m, a)).toThrow(OffpayError);
    expect(() => issue(m, a)).toThrow(expect.objectContaining({ code: 'issuer.bad_wallet_limits' }));
  });

  it('accepts the boundaries: 1 <= maxPerPayment == allowance, and allowance == 2^32 - 1', () => {
    expect(issue(1, 1).offlineAllowance).toBe(1);
    expect(issue(MAX_WALLET_LIMIT, MAX_WALLET_LIMIT).maxPerPayment).toBe(MAX_WALLET_LIMIT);
    expect(issue(50_000, MAX_WALLET_LIMIT).offlineAllowance).toBe(MAX_WALLET_LIMIT);
  });

  it('property: a pair is certified exactly when it satisfies the rule, and then its sums stay exact', () => {
    const v = fc.oneof(fc.integer({ min: -10, max: 2000 }), fc.constantFrom(MAX_WALLET_LIMIT - 1, MAX_WALLET_LIMIT, MAX_WALLET_LIMIT + 1, 2 ** 53), fc.double());
    fc.assert(
      fc.property(v, v, (m, a) => {
        const legal = Number.isSafeInteger(m) && Number.isSafeInteger(a) && m >= 1 && a >= m && a <= MAX_WALLET_LIMIT;
        let ok = true;
        try {
          checkWalletLimits(m, a);
        } catch (e) {
          expect((e as OffpayError).code).toBe('issuer.bad_wallet_limits');
          ok = false;
        }
        expect(ok).toBe(legal);
        if (ok) expect(Number.isSafeInteger(a + m)).toBe(true); // spent (<= a) + one payment (<= m)
      }),
      { numRuns: 2000 },
    );
  });

  it('`wallet new` refuses such limits with exit 2 and a message naming the option', async () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-limits-'));
    const run = async (...argv: string[]) => {
      let err = '';
      const code = await main(argv, { out: () => undefined, err: (s) => (err += s) });
      return { code, err };
    };
    expect((await run('issuer', 'init', '--dir', join(d, 'i'), '--seed', 'l', '--now', String(NOW))).code).toBe(0);
    const make = (out: string, ...limits: string[]) => run('wallet', 'new', '--issuer', join(d, 'i'), '--out', join(d, out), '--now', String(NOW), ...limits);
    const low = await make('a', '--max-payment', '500', '--allowance', '100');
    expect(low.code).toBe(2);
    expect(low.err).toMatch(/--allowance 100\.00 is below --max-payment 500\.00/);
    const big = await make('b', '--max-payment', '1', '--allowance', '42949672.96');
    expect(big.code).toBe(2);
    expect(big.err).toMatch(/--allowance must be above 0 and at most 42949672\.95 HKD/);
    const zero = await make('c', '--max-payment', '0', '--allowance', '1');
    expect(zero.code).toBe(2);
    expect(zero.err).toMatch(/--max-payment must be above 0/);
    expect((await make('ok', '--max-payment', '42949672.95', '--allowance', '42949672.95')).code).toBe(0);
    expect((await make('jpy', '--currency', 'JPY', '--max-payment', '4294967295', '--allowance', '4294967295')).code).toBe(0);
    expect((await make('jpy-big', '--currency', 'JPY', '--max-payment', '1', '--allowance', '4294967296')).code).toBe(2);
  });
});
