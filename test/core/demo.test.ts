import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

describe('offpay demo', () => {
  it('tells the whole story with the outcomes it claims', async () => {
    let out = '';
    const code = await main(['demo', '--seed', 'ci', '--json'], { out: (s) => (out += s), err: () => undefined });
    expect(code).toBe(0);
    const { steps } = JSON.parse(out) as { steps: Record<string, unknown>[] };
    const step = (name: string) => steps.find((s) => s.step === name)!;
    expect(step('vending-over-sound')).toMatchObject({ accepted: true });
    expect(step('gate-qr')).toMatchObject({ accepted: true, replay: 'replayed' });
    expect(step('gate-nfc')).toMatchObject({ accepted: true, receipt: true });
    expect(step('gate-nfc').roundTrips).toBeLessThanOrEqual(4);
    expect(step('clone')).toMatchObject({ sameReader: 'replayed', gateB: true, gateA: true });
    expect(step('clearing')).toMatchObject({ afterBlocklist: 'blocklisted' });
    expect(step('clearing').doubleSpends).toBeGreaterThanOrEqual(1);
    // Amounts in clearing JSON are decimal strings of minor units (spec/clearing.md §7).
    const settlement = step('settlement').settlement as { operatorId: number; gross: string; fee: string; net: string }[];
    expect(step('refund')).toMatchObject({ outcome: 'accepted', state: 'refunded', second: 'refund.already_refunded' });
    // The refund is netted in merchant 90's line; the fee stays on gross (spec/clearing.md M8).
    expect(settlement.find((s) => s.operatorId === 90)).toMatchObject({ gross: '1250', fee: '19', refunded: '500', net: '731' });
  });
});
