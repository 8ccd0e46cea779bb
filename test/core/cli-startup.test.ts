/**
 * Startup: `offpay --help` and the command lookup read the static table of src/cli/registry.ts; a command's
 * module loads only when that command runs. The import graph of the built CLI is recorded with a module
 * resolve hook (node:module register) in a child process. Timing goals are in the report / benchmarks,
 * never asserted here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AREA_LOADERS, COMMANDS, type Area } from '../../src/cli/registry.js';

const MAIN = join(import.meta.dirname, '../../dist/src/cli/main.js');
const built = existsSync(MAIN);

/** The file: URLs the built CLI resolves while running `argv`. */
function importGraph(argv: string[]): { urls: string[]; status: number | null; stdout: string } {
  const d = mkdtempSync(join(tmpdir(), 'offpay-imports-'));
  const log = join(d, 'imports.log');
  writeFileSync(
    join(d, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.startsWith('file:')) appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}`,
  );
  writeFileSync(join(d, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(d, 'hooks.mjs')).href)});\n`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(d, 'register.mjs')).href, MAIN, ...argv], { encoding: 'utf8', cwd: d });
  return { urls: readFileSync(log, 'utf8').split('\n').filter(Boolean), status: r.status, stdout: r.stdout };
}

describe('the command table', () => {
  it('names exactly the commands each module implements, with the same summaries', async () => {
    for (const area of Object.keys(AREA_LOADERS) as Area[]) {
      const { commands } = await AREA_LOADERS[area]();
      const table = COMMANDS.filter((c) => c.area === area).map((c) => [c.name, c.summary]);
      const real = commands.map((c) => [c.name, c.summary]);
      expect(table, `src/cli/registry.ts is out of step with src/cli/commands/${area}.ts: copy the names and summaries`).toEqual(real);
    }
  });
});

describe.skipIf(!built)('offpay --help loads no command module', () => {
  it('--help resolves only the entry point, the framework and the table', () => {
    const g = importGraph(['--help']);
    expect(g.status).toBe(0);
    expect(g.stdout).toContain('reader accept');
    const ours = g.urls.filter((u) => u.includes('/dist/')).map((u) => u.slice(u.indexOf('/dist/') + 6));
    expect(ours.some((u) => u.startsWith('src/cli/commands/'))).toBe(false);
    expect(g.urls.filter((u) => /node_modules|\/codecs\//.test(u))).toEqual([]);
    expect(ours).toContain('src/cli/registry.js'); // the hook saw the graph
    expect(ours.length).toBeLessThanOrEqual(8);
  });

  it('fsk profiles loads the fsk module and the FSK codec, but not SQLite, the QR engine or the reader', () => {
    const g = importGraph(['fsk', 'profiles']);
    expect(g.status).toBe(0);
    expect(g.urls.some((u) => u.includes('/cli/commands/fsk.js'))).toBe(true);
    expect(g.urls.filter((u) => /better-sqlite3|zxing|\/codecs\/qr\/|\/reader\/|\/clearing\/|commands\/(core|reader|qr|nfc|demo)\.js/.test(u))).toEqual([]);
  });
});
