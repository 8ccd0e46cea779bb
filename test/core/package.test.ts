/**
 * The package as integrators get it: package.json's exports, and the packed tarball installed into a fresh
 * TypeScript project. Needs `npm run build` first (npm test does it); under CI=true a missing build fails.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const inCi = process.env.CI === 'true';
const haveBuild = existsSync('dist/src/index.js');
if (inCi && !haveBuild) throw new Error('CI: dist/ is missing (npm run build)');

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, string | { types: string; default: string }>; bin: Record<string, string> };

describe('package.json', () => {
  it.skipIf(!haveBuild)('every export and the bin point at built files', async () => {
    for (const [name, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      expect(existsSync(target.default), `${name} -> ${target.default}`).toBe(true);
      expect(existsSync(target.types), `${name} -> ${target.types}`).toBe(true);
    }
    expect(existsSync(pkg.bin.offpay!)).toBe(true);
    expect(readFileSync(pkg.bin.offpay!, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });

  it.skipIf(!existsSync('dist/src/node/index.js'))('offpay/node resolves (package self-reference) and has the Node helpers the README names', () => {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "const m = await import('offpay/node'); console.log(JSON.stringify(Object.keys(m).sort()))"],
      { encoding: 'utf8' },
    );
    const names = JSON.parse(out) as string[];
    for (const n of ['nodeEd25519', 'FileCounterStore', 'SqliteReaderStore', 'openSqliteReaderStore', 'Clearing', 'loadIssuer', 'loadWallet', 'loadReader']) expect(names).toContain(n);
  });

  it('names the subpaths the issues promise', () => {
    for (const k of ['.', './node', './fsk', './fsk/node', './qr', './qr/node', './nfc', './nfc/node', './reader', './clearing']) expect(pkg.exports).toHaveProperty([k]);
  });
});

describe('the tarball (npm pack --dry-run --json)', () => {
  const files = (JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);

  it('ships the license, changelog, security policy, readme, spec and vectors', () => {
    for (const f of ['LICENSE', 'CHANGELOG.md', 'SECURITY.md', 'README.md', 'package.json', 'spec/protocol.md', 'spec/reader.md', 'fixtures/vectors/token_verify.json', 'fixtures/vectors/request_verify.json', 'fixtures/keyset/keyset_verify.json', 'fixtures/refund/refund_verify.json', 'fixtures/refund/refund_clearing.json', 'fixtures/batch/batch_clearing.json', 'fixtures/blocklist/blocklist_load.json', 'fixtures/wallet/counter_state.json']) expect(files).toContain(f);
    expect(readFileSync('LICENSE', 'utf8')).toMatch(/Apache License\s+Version 2\.0, January 2004[\s\S]*END OF TERMS AND CONDITIONS/);
  });

  it('ships no benchmarks, scripts, tests, source maps, sources or scratch files', () => {
    const bad = files.filter((f) => /^dist\/(bench|scripts|test)\/|\.map$|^(src|codecs|test|bench|scripts)\/|(?<!\.d)\.ts$|\.db$|^\.|node_modules/.test(f));
    expect(bad).toEqual([]);
    expect(files.every((f) => /^(dist\/(base|src|codecs|web)\/|spec\/|fixtures\/(vectors|keyset|refund|batch|blocklist|webhook|sync|wallet)\/)/.test(f) || ['LICENSE', 'CHANGELOG.md', 'SECURITY.md', 'README.md', 'package.json'].includes(f)), files.join(' ')).toBe(true);
  });

  it.skipIf(!haveBuild)('ships every file the exports and the bin point at, and the clearing worker', () => {
    for (const t of Object.values(pkg.exports)) {
      if (typeof t === 'string') continue;
      expect(files).toContain(t.default.replace(/^\.\//, ''));
      expect(files).toContain(t.types.replace(/^\.\//, ''));
    }
    expect(files).toContain(pkg.bin.offpay!);
    expect(files).toContain('dist/src/clearing/verify-worker.js');
  });
});

/** Every subpath in package.json "exports" except ./package.json, as the specifier a consumer writes. */
const SUBPATHS = Object.keys(pkg.exports)
  .filter((k) => k !== './package.json' && !k.includes('*'))
  .map((k) => (k === '.' ? 'offpay' : `offpay/${k.slice(2)}`));
/** The entry points a browser may use (spec: no Node types needed, bundle without warnings). */
const BROWSER_SUBPATHS = ['offpay', 'offpay/reader', 'offpay/fsk', 'offpay/qr', 'offpay/nfc'];

describe.skipIf(!haveBuild)('the packed package in a fresh strict TypeScript project (skipLibCheck off)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'offpay-consumer-'));
  const run = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const x = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')} failed:\n${x.stdout ?? ''}${x.stderr ?? x.message}`);
    }
  };
  const version = (name: string): string => (JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;

  beforeAll(() => {
    // the tarball as `npm publish` would make it (dist/ is built already), installed with the consumer's two
    // devDependencies at the versions this repository uses: npm's cache answers, the registry only if it must.
    // No optional dependency and no install script: types only need the files, and better-sqlite3 (an
    // optional peer) is deliberately absent, as in a browser project.
    const packed = JSON.parse(run('npm', ['pack', resolve('.'), '--ignore-scripts', '--json', '--pack-destination', dir])) as { filename: string }[];
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    run('npm', [
      'install', '--prefer-offline', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error',
      `./${packed[0]!.filename}`, `typescript@${version('typescript')}`, `@types/node@${version('@types/node')}`,
    ]);
  }, 240_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const strict = { strict: true, skipLibCheck: false, noEmit: true, target: 'es2022', exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true };
  const check = (name: string, subpaths: string[], options: Record<string, unknown>): void => {
    const lines = subpaths.map((s, i) => `import * as m${i} from '${s}';`);
    lines.push(`export const all = [${subpaths.map((_, i) => `m${i}`).join(', ')}];`);
    writeFileSync(join(dir, `${name}.ts`), lines.join('\n') + '\n');
    writeFileSync(join(dir, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions: { ...strict, ...options }, files: [`${name}.ts`] }));
    run(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', `tsconfig.${name}.json`]);
  };

  it('the shipped vectors and spec resolve by package name (a port\'s CI reads them from node_modules)', () => {
    const resolved = run(process.execPath, ['-e', "for (const s of ['offpay/fixtures/vectors/token_verify.json', 'offpay/fixtures/batch/batch_clearing.json', 'offpay/spec/protocol.md']) console.log(require.resolve(s))"]);
    expect(resolved.trim().split('\n').map((l) => l.split('node_modules/')[1])).toEqual(['offpay/fixtures/vectors/token_verify.json', 'offpay/fixtures/batch/batch_clearing.json', 'offpay/spec/protocol.md']);
  });

  it('the consumer has no better-sqlite3, @types/better-sqlite3 or PC/SC addon', () => {
    for (const p of ['better-sqlite3', '@types/better-sqlite3', '@pokusew/pcsclite']) expect(existsSync(join(dir, 'node_modules', p)), p).toBe(false);
  });

  it('every subpath type-checks on Node (module nodenext, @types/node)', () => {
    expect(SUBPATHS).toContain('offpay/node');
    check('node', SUBPATHS, { module: 'nodenext', moduleResolution: 'nodenext', types: ['node'] });
  }, 120_000);

  it('the browser subpaths type-check without Node types (bundler resolution, DOM lib)', () => {
    check('browser', BROWSER_SUBPATHS, { module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom'], types: [] });
  }, 120_000);
});
