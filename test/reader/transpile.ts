/**
 * Builds a runnable JavaScript copy of src/ and one script for tests that spawn child processes (the crash
 * test), with TypeScript's own transpiler (no type check; tsc --noEmit covers that). Output goes to a temp
 * directory with a node_modules symlink so that the child resolves dependencies.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../..');

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

export function transpileForChild(scripts: string[]): string {
  const out = mkdtempSync(join(tmpdir(), 'offpay-js-'));
  // src/ and codecs/ both import base/ (errors, hex, digits...), and src/ imports codecs/: all three are transpiled.
  const files = [...walk(join(ROOT, 'src'), []).filter((f) => !f.includes(`${join('src', 'cli')}`)), ...walk(join(ROOT, 'codecs'), []), ...walk(join(ROOT, 'base'), []), ...scripts.map((s) => join(ROOT, s))];
  for (const f of files) {
    const js = ts.transpileModule(readFileSync(f, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false, esModuleInterop: true },
      fileName: f,
    }).outputText;
    const dest = join(out, relative(ROOT, f)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, js);
  }
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
  return out;
}
