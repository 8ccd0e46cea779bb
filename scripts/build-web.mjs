// Bundles the playground pages (web/*.ts) into dist/web with esbuild, at `npm run build` time, so the
// published package serves them offline (`offpay playground`). Pages are ES modules; the decoder is a classic
// Worker script (iife); the AudioWorklet processor and the stylesheet are copied as they are.
// Deterministic: no timestamps, no source maps.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
mkdirSync(out, { recursive: true });
const common = { bundle: true, platform: 'browser', target: 'es2022', minify: true, legalComments: 'none', logLevel: 'warning', tsconfigRaw: '{}' };
await build({ ...common, entryPoints: [join(root, 'web/reader.ts'), join(root, 'web/wallet.ts')], format: 'esm', outdir: out });
await build({ ...common, entryPoints: [join(root, 'web/decoder-worker.ts'), join(root, 'web/scanner-worker.ts')], format: 'iife', outdir: out });
for (const f of ['capture-worklet.js', 'playground.css']) copyFileSync(join(root, 'web', f), join(out, f));
