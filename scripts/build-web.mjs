// Bundles the playground pages (web/*.ts) into dist/web with esbuild, at `npm run build` time, so the
// published package serves them offline (`offpay playground`). Pages are ES modules; the decoder is a classic
// Worker script (iife); the stylesheet is copied as it is, and the AudioWorklet processor is written from the
// library's own source (CAPTURE_WORKLET_SOURCE of codecs/fsk/webaudio.ts, built by tsc just before), as a file
// because the pages' CSP forbids data: URLs.
// Deterministic: no timestamps, no source maps.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
mkdirSync(out, { recursive: true });
// Licence notices of bundled code are kept at the end of each bundle (legalComments 'eof': noble's /*! ... */), and a
// footer names every third-party package a bundle may include, for the pages served to phones.
const NOTICE =
  '/*! Third-party code in this bundle: @noble/curves and @noble/hashes (MIT, (c) Paul Miller); zxing-wasm (MIT, (c) 2023 Ze-Zheng Wu), ' +
  'whose WebAssembly module is a build of zxing-cpp (Apache-2.0). Licence texts: the LICENSE file of each package. */';
const common = { bundle: true, platform: 'browser', target: 'es2022', minify: true, legalComments: 'eof', footer: { js: NOTICE }, logLevel: 'warning', tsconfigRaw: '{}' };
await build({ ...common, entryPoints: [join(root, 'web/reader.ts'), join(root, 'web/wallet.ts')], format: 'esm', outdir: out });
await build({ ...common, entryPoints: [join(root, 'web/decoder-worker.ts'), join(root, 'web/scanner-worker.ts')], format: 'iife', outdir: out });
copyFileSync(join(root, 'web', 'playground.css'), join(out, 'playground.css'));
const { CAPTURE_WORKLET_SOURCE } = await import(new URL('../dist/codecs/fsk/webaudio.js', import.meta.url).href);
writeFileSync(join(out, 'capture-worklet.js'), `// offpay capture AudioWorkletProcessor: CAPTURE_WORKLET_SOURCE of codecs/fsk/webaudio.ts, written at build time.\n${CAPTURE_WORKLET_SOURCE}`);
