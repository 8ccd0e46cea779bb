/**
 * examples/ run as integrators' programs: each is built (npm run build) and run with Node from dist/,
 * importing offpay by its package name (self-reference through package.json "exports"), and must exit 0.
 * The README's library snippet is examples/readme.ts, line for line. Under CI=true a missing build fails.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const haveBuild = existsSync('dist/examples/readme.js');
if (process.env.CI === 'true' && !haveBuild) throw new Error('CI: dist/examples is missing (npm run build)');

describe('examples/', () => {
  it("the README's library snippet is examples/readme.ts, line for line", () => {
    const readme = readFileSync('README.md', 'utf8');
    const snippet = readme.slice(readme.indexOf('## The library in a few lines')).match(/```ts\n([\s\S]*?)```/)![1]!;
    const example = readFileSync('examples/readme.ts', 'utf8');
    for (const line of snippet.split('\n').filter((l) => l.trim())) expect(example, line).toContain(line);
  });

  const names = readdirSync('examples').filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));
  it('has the README snippet, a vending machine and a gate', () => {
    expect(names).toEqual(expect.arrayContaining(['readme', 'vending', 'gate']));
  });

  for (const name of names) {
    it.skipIf(!haveBuild)(`${name} runs and exits 0`, () => {
      const out = execFileSync(process.execPath, [`dist/examples/${name}.js`], { encoding: 'utf8', timeout: 90_000 });
      expect(out.length).toBeGreaterThan(0);
    }, 120_000);
  }
});
