import { readFileSync, existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Follow static imports from an entry; return every bare specifier reached, with the file importing it. */
function staticImports(entry: string): Map<string, string> {
  const seen = new Set<string>();
  const bare = new Map<string, string>();
  const queue = [resolve(entry)];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    // static `import ... from 'x'` and `export ... from 'x'` (type-only imports are erased and skipped)
    for (const m of src.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        if (existsSync(target)) queue.push(target);
      } else if (!bare.has(spec)) bare.set(spec, file);
    }
  }
  return bare;
}

const NODE_ONLY = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`), 'better-sqlite3', '@pokusew/pcsclite']);

// offpay/reader is browser-safe with its in-memory store; the SQLite store is in offpay/node.

describe('browser entry points (offpay, offpay/reader, fsk, qr, nfc) import nothing Node-only', () => {
  it('the check sees Node imports where they are (it can fail)', () => {
    expect([...staticImports('src/node/files.ts').keys()]).toContain('node:fs');
    expect([...staticImports('src/reader/sqlite.ts').keys()]).toContain('node:module');
    expect([...staticImports('src/clearing/index.ts').keys()]).toContain('node:crypto');
  });

  for (const entry of ['src/index.ts', 'src/reader/index.ts', 'codecs/fsk/index.ts', 'codecs/qr/index.ts', 'codecs/nfc/index.ts']) {
    it(entry, () => {
      const bad = [...staticImports(entry)].filter(([spec]) => NODE_ONLY.has(spec)).map(([spec, file]) => `${spec} (in ${file})`);
      expect(bad).toEqual([]);
    });
  }
});
