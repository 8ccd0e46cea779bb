/**
 * `npm run bench`: every benchmark in turn, each in its own process (results under bench/results/).
 * Extra arguments are passed to each (e.g. `npm run bench -- --quick`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const names = ['core', 'reader', 'reader-prune', 'qr', 'fsk', 'fsk-flood', 'nfc', 'cli', 'listen', 'clearing', 'clearing-transit'];
let failed = 0;
for (const name of names) {
  const file = join(here, `${name}.bench.js`);
  if (!existsSync(file)) continue;
  process.stdout.write(`\n=== bench: ${name}\n`);
  const r = spawnSync(process.execPath, [file, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    process.stdout.write(`bench ${name} exited with ${r.status}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
