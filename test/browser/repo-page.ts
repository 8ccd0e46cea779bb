/**
 * The browser-promise page, served from the repository on loopback: an import map points bare specifiers at
 * node_modules, and test/browser/page.mjs loads the built modules (dist/) as a page would. The page leaves
 * its outcome in `window.__offpay`. Shared by the Chromium and Firefox tests.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.html': 'text/html' };
const PAGE = `<!doctype html><html><head><script type="importmap">${JSON.stringify({
  imports: {
    '@noble/curves/': '/node_modules/@noble/curves/',
    '@noble/hashes/': '/node_modules/@noble/hashes/',
    'cbor-x': '/node_modules/cbor-x/index.js',
    'zxing-wasm/full': '/node_modules/zxing-wasm/dist/es/full/index.js',
  },
})}</script><script type="module" src="/test/browser/page.mjs"></script></head><body>offpay browser test</body></html>`;

/** Serves `/` (the page) and any file under `root` (404 outside it) on 127.0.0.1; resolves to the base URL. */
export async function serveRepoPage(root: string): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      return;
    }
    const file = normalize(join(root, decodeURIComponent(url.pathname)));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/**
 * `entry` (a browser module under the repository) bundled by esbuild into a temporary directory under
 * `root`/.scratch and served on 127.0.0.1 as the only script of `/`. `close()` stops the server and deletes
 * the bundle.
 */
export async function serveBundledPage(root: string, entry: string): Promise<{ base: string; close(): Promise<void> }> {
  const { build } = await import('esbuild');
  mkdirSync(join(root, '.scratch'), { recursive: true });
  const out = mkdtempSync(join(root, '.scratch', 'page-'));
  const r = await build({ entryPoints: [join(root, entry)], bundle: true, platform: 'browser', format: 'esm', target: 'es2022', outfile: join(out, 'page.js'), logLevel: 'silent', tsconfigRaw: '{}' });
  if (r.errors.length > 0) throw new Error(`esbuild: ${JSON.stringify(r.errors)}`);
  const js = readFileSync(join(out, 'page.js'));
  const server = createServer((req, res) => {
    if (req.url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><link rel="icon" href="data:,"><script type="module" src="/page.js"></script>');
  });
  await new Promise<void>((r2) => server.listen(0, '127.0.0.1', r2));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise<void>((r2) => server.close(() => r2()));
      rmSync(out, { recursive: true, force: true });
    },
  };
}
