import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { READER_REASONS } from '../../src/reader/reasons.js';
import { REASONS } from '../../src/reasons.js';

const spec = readFileSync('spec/reader.md', 'utf8');
/** Error codes may be listed in spec/reader.md or (clearing's) spec/clearing.md and spec/clearing-api.md. */
const specs = spec + ['spec/clearing.md', 'spec/clearing-api.md'].map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : '')).join('');
const SOURCES = [
  ...readdirSync('src/reader').map((f) => `src/reader/${f}`),
  ...readdirSync('src/clearing').map((f) => `src/clearing/${f}`),
  ...readdirSync('src/server').map((f) => `src/server/${f}`),
  'src/cli/commands/reader.ts',
  'src/cli/commands/serve.ts',
  'src/cli/reader-open.ts',
];

describe('spec/reader.md stays in step with the code', () => {
  it('lists every reader reason with its number, in the 32-63 range, disjoint from the stateless ones', () => {
    for (const [name, { code }] of Object.entries(READER_REASONS)) {
      expect(code).toBeGreaterThanOrEqual(32);
      expect(code).toBeLessThanOrEqual(63);
      expect(spec).toContain(`| ${code} | ${name} |`);
      expect(Object.keys(REASONS)).not.toContain(name);
    }
    const codes = Object.values(READER_REASONS).map((r) => r.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('lists every error code the reader, clearing and their CLI raise', () => {
    const codes = new Set<string>();
    for (const f of SOURCES) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/OffpayError\('([a-z_]+\.[a-z_]+)'/g)) codes.add(m[1]!);
      for (const m of text.matchAll(/'(clearing\.[a-z_]+)'/g)) codes.add(m[1]!);
      for (const m of text.matchAll(/'((?:api|sync)\.[a-z_]+)'/g)) codes.add(m[1]!);
    }
    expect(codes.size).toBeGreaterThan(20);
    const missing = [...codes].filter((c) => !specs.includes(c));
    expect(missing).toEqual([]);
  });
});
