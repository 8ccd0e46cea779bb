/**
 * Every entry point a browser may use bundles with the bundlers integrators use, esbuild and Vite (the real
 * ones, devDependencies here), with no error and no warning: nothing Node-only (node:fs, better-sqlite3,
 * the PC/SC addon) is reachable from them. Bundles the built files the package's "exports" point at, as a
 * consumer's bundler would, keeping every export (esbuild: `export *` entry; Vite: library mode).
 * Needs `npm run build` first (npm test does it); under CI=true a missing build fails.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve('.');
const haveBuild = existsSync(join(ROOT, 'dist/src/index.js'));
if (process.env.CI === 'true' && !haveBuild) throw new Error('CI: dist/ is missing (npm run build)');

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { default: string } | string> };
/** The browser entry points (offpay/clearing is Node-only: SQLite and worker threads). */
export const BROWSER_ENTRIES = ['.', './reader', './fsk', './qr', './nfc'] as const;
const target = (k: string): string => resolve(ROOT, (pkg.exports[k] as { default: string }).default);

mkdirSync(join(ROOT, '.scratch'), { recursive: true });
const work = mkdtempSync(join(ROOT, '.scratch', 'bundle-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * Vite library build of `entry`, in a child process with NODE_ENV=production as an integrator runs it (under
 * NODE_ENV=test, as in a vitest worker, Vite does not report Node built-ins); returns every warning Vite or
 * Rolldown reported.
 */
const VITE_SCRIPT = `
import { build } from 'vite';
const [entry, root] = process.argv.slice(2);
const warnings = [];
const record = (m) => void warnings.push(String(m));
await build({
  root, configFile: false, logLevel: 'warn',
  customLogger: { info() {}, warn: record, warnOnce: record, error: record, clearScreen() {}, hasErrorLogged: () => false, hasWarned: false },
  build: { write: false, minify: false, lib: { entry, formats: ['es'], fileName: 'entry' }, rollupOptions: { onwarn: (w) => record(w.message) } },
});
process.stdout.write(JSON.stringify(warnings));
`;

function viteWarnings(entry: string, name: string): string[] {
  const dir = join(work, name.replace(/\//g, '-'));
  mkdirSync(dir, { recursive: true });
  const script = join(work, 'vite-build.mjs');
  writeFileSync(script, VITE_SCRIPT);
  const out = execFileSync(process.execPath, [script, entry, dir], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_ENV: 'production' } });
  return JSON.parse(out) as string[];
}

describe.skipIf(!haveBuild)('browser entry points bundle without errors or warnings', () => {
  it('the check can fail: a Node-only entry point does not bundle for the browser', async () => {
    const { build } = await import('esbuild');
    const r = await build({ entryPoints: [target('./node')], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' }).catch(
      (e: { errors: { text: string }[] }) => e,
    );
    expect('errors' in r && r.errors.map((e) => e.text).join('\n')).toMatch(/Could not resolve "node:/);
    expect((viteWarnings(target('./node'), 'node')).join('\n')).toMatch(/"node:fs" has been externalized for browser compatibility/);
  });

  for (const entry of BROWSER_ENTRIES) {
    const name = entry === '.' ? 'offpay' : `offpay/${entry.slice(2)}`;

    it(`${name} with esbuild (platform browser, minified)`, async () => {
      const { build } = await import('esbuild');
      const r = await build({
        stdin: { contents: `export * from ${JSON.stringify(target(entry))};`, resolveDir: ROOT, loader: 'js' },
        bundle: true,
        platform: 'browser',
        format: 'esm',
        target: 'es2022',
        minify: true,
        write: false,
        logLevel: 'silent',
      });
      expect(r.errors).toEqual([]);
      expect(r.warnings.map((w) => w.text)).toEqual([]);
      const out = r.outputFiles[0]!.contents;
      const text = new TextDecoder().decode(out);
      expect(text).not.toMatch(/["']node:|better-sqlite3|@pokusew\/pcsclite/);
      console.log(`bundle size ${name}: esbuild minified ${out.length} B, gzip ${gzipSync(out).length} B`);
    });

    it(`${name} with Vite (library mode)`, () => {
      expect(viteWarnings(target(entry), name)).toEqual([]);
    });
  }
});
