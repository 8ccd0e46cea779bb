import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REASONS } from '../../src/reasons.js';
import { SMALL_ORDER_ENCODINGS } from '../../src/weakkeys.js';

const spec = readFileSync('spec/protocol.md', 'utf8');
const CORE_SOURCES = [
  'src/cbor.ts', 'src/crypto.ts', 'src/currency.ts', 'base/errors.ts', 'src/issuer.ts', 'src/messages.ts', 'src/request.ts',
  'src/verify.ts', 'src/vectors.ts', 'src/ed25519-craft.ts', 'src/wallet.ts', 'src/weakkeys.ts', 'src/node/files.ts', 'src/node/counter.ts', 'src/node/lock.ts', 'src/node/crypto.ts',
  'src/cli/commands/core.ts', 'src/cli/via.ts',
];

describe('spec/protocol.md stays in step with the code', () => {
  it('lists every reason code with its number', () => {
    for (const [name, { code }] of Object.entries(REASONS)) expect(spec).toContain(`| ${code} | \`${name}\` |`);
  });

  it('lists the 14 small-order encodings of §8.3 exactly as the code does', () => {
    const sec = spec.slice(spec.indexOf('### 8.3'), spec.indexOf('### 8.4'));
    const listed = [...sec.matchAll(/\| `([0-9a-f]{64})` \|/g)].map((m) => m[1]);
    expect(listed).toEqual([...SMALL_ORDER_ENCODINGS]);
  });

  it('lists every error code the core raises', () => {
    const codes = new Set<string>();
    for (const f of CORE_SOURCES) {
      for (const m of readFileSync(f, 'utf8').matchAll(/OffpayError\('([a-z_]+\.[a-z_]+)'/g)) codes.add(m[1]!);
    }
    expect(codes.size).toBeGreaterThan(15);
    const missing = [...codes].filter((c) => !spec.includes(`\`${c}\``));
    expect(missing).toEqual([]);
  });
});
