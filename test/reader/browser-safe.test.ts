import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Bare specifiers reached through static (non-type) imports from an entry. */
function staticImports(entry: string): Map<string, string> {
  const seen = new Set<string>();
  const bare = new Map<string, string>();
  const queue = [resolve(entry)];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        if (existsSync(target)) queue.push(target);
      } else if (!bare.has(spec)) bare.set(spec, file);
    }
  }
  return bare;
}

const NODE_ONLY = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`), 'better-sqlite3']);

describe('offpay/reader is browser-safe', () => {
  it('src/reader/index.ts reaches no Node-only module statically (SQLite is a dynamic import)', () => {
    const bad = [...staticImports('src/reader/index.ts')].filter(([spec]) => NODE_ONLY.has(spec));
    expect(bad).toEqual([]);
  });
  it('the check can fail: the SQLite store and clearing are Node-only', () => {
    expect([...staticImports('src/reader/sqlite.ts').keys()]).toContain('better-sqlite3');
    expect([...staticImports('src/clearing/index.ts').keys()]).toContain('node:crypto');
  });
});
