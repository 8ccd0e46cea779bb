/**
 * spec/clearing.md stays in step with the code: every error code clearing and its CLI commands raise is in
 * the §8 table, every table row is raised somewhere, and every invalid-entry reason clearing stores is named.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const spec = readFileSync('spec/clearing.md', 'utf8');
const table = spec.slice(spec.indexOf('## 8. Error codes'), spec.indexOf('## 9.'));
const cli = readFileSync('src/cli/commands/reader.ts', 'utf8');
const cliClearing = cli.slice(cli.indexOf('function openClearing'));
const sources = [...readdirSync('src/clearing').map((f) => readFileSync(`src/clearing/${f}`, 'utf8')), cliClearing, readFileSync('src/cli/clearing-open.ts', 'utf8'), readFileSync('src/node/sqlite.ts', 'utf8')];

describe('spec/clearing.md stays in step with the code', () => {
  it('lists every clearing error code in §8, and every code in §8 is raised', () => {
    const raised = new Set<string>();
    for (const text of sources) for (const m of text.matchAll(/'(clearing\.[a-z_]+)'/g)) raised.add(m[1]!);
    expect(raised.size).toBeGreaterThan(10);
    const listed = new Set([...table.matchAll(/^\| (clearing\.[a-z_]+) \|/gm)].map((m) => m[1]!));
    expect([...raised].filter((c) => !listed.has(c))).toEqual([]);
    expect([...listed].filter((c) => !raised.has(c))).toEqual([]);
  });

  it('names every invalid-entry reason clearing stores itself', () => {
    const text = readFileSync('src/clearing/clearing.ts', 'utf8');
    const reasons = new Set([...text.matchAll(/reason = '([a-z_]+)';/g)].map((m) => m[1]!));
    expect(reasons).toEqual(new Set(['reader_cert_not_valid', 'amount_mismatch']));
    for (const r of reasons) expect(spec).toContain(`\`${r}\``);
  });

  it('names every money invariant with its tests', () => {
    for (const m of ['M1', 'M2', 'M3', 'M4', 'M5', 'M6']) {
      expect(spec).toContain(`**${m}.`);
      expect(spec).toMatch(new RegExp(`^\\| ${m} \\| .*test/clearing`, 'm'));
    }
  });
});
