/**
 * Packaging review: a Node-only TypeScript project (a reader integrator's service) usually sets `lib` without
 * "dom" (e.g. `"lib": ["es2023"]`, as @tsconfig/node20 does) and, when strict about it, `skipLibCheck: false`.
 * The shipped declarations of `offpay/reader` (IndexedDbReaderStore: IDBFactory, LockManager) and `offpay/fsk`
 * (webaudio.ts: BaseAudioContext, AudioBuffer, AudioNode, AudioWorkletNode) then fail to type-check, although
 * the README sells offpay/reader as what a Node reader uses with offpay/node. package.test.ts only checks Node
 * with TypeScript's default lib (which includes DOM). The consumer here resolves `offpay` to this checkout
 * (a node_modules symlink), so it reads the built dist/*.d.ts through package.json "exports".
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve('.');
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const d = mkdtempSync(join(tmpdir(), 'offpay-nodom-'));
afterAll(() => rmSync(d, { recursive: true, force: true }));

function check(specifier: string): string {
  const name = specifier.replace(/\W+/g, '_');
  writeFileSync(join(d, `${name}.ts`), `import * as m from '${specifier}';\nexport const x = m;\n`);
  writeFileSync(join(d, `tsconfig.${name}.json`), JSON.stringify({
    compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2023'], types: ['node'], skipLibCheck: false, noEmit: true },
    files: [`${name}.ts`],
  }));
  try {
    execFileSync(process.execPath, [tsc, '-p', `tsconfig.${name}.json`], { cwd: d, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return '';
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e);
  }
}

describe.skipIf(!existsSync('dist/src/reader/index.d.ts'))('the declarations in a Node project without the DOM lib (skipLibCheck off)', () => {
  mkdirSync(join(d, 'node_modules', '@types'), { recursive: true });
  symlinkSync(root, join(d, 'node_modules', 'offpay'), 'dir');
  symlinkSync(join(root, 'node_modules', '@types', 'node'), join(d, 'node_modules', '@types', 'node'), 'dir');
  writeFileSync(join(d, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));

  it('offpay and offpay/node type-check (control)', () => {
    expect(check('offpay')).toBe('');
    expect(check('offpay/node')).toBe('');
  }, 120_000);

  it('offpay/reader type-checks without DOM types', () => {
    expect(check('offpay/reader')).toBe('');
  }, 120_000);

  it('offpay/fsk type-checks without DOM types', () => {
    expect(check('offpay/fsk')).toBe('');
  }, 120_000);
});
