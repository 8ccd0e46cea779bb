/**
 * Regenerates every fixture under fixtures/ from seeds. CI runs this on a fresh clone and then checks
 * with `git diff --exit-code fixtures/` that no byte changed.
 *
 * Usage: node dist/scripts/fixtures.js [ROOT]   (ROOT defaults to the repository root)
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from './fixtures/core.js';
import * as fsk from './fixtures/fsk.js';
import * as qr from './fixtures/qr.js';
import * as nfc from './fixtures/nfc.js';
import * as reader from './fixtures/reader.js';
import * as keyset from './fixtures/keyset.js';
import * as refund from './fixtures/refund.js';
import * as batch from './fixtures/batch.js';
import * as blocklist from './fixtures/blocklist.js';
import * as webhook from './fixtures/webhook.js';
import * as sync from './fixtures/sync.js';
import * as wallet from './fixtures/wallet.js';

const root = resolve(process.argv[2] ?? resolve(fileURLToPath(import.meta.url), '../../..'));
const areas = { core, fsk, qr, nfc, reader, keyset, refund, batch, blocklist, webhook, sync, wallet };
let total = 0;
for (const [name, mod] of Object.entries(areas)) {
  const files = await mod.generate(root);
  total += files.length;
  process.stdout.write(`${name}: ${files.length} files\n`);
}
process.stdout.write(`fixtures: ${total} files written under ${root}/fixtures\n`);
