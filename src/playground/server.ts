/**
 * `offpay playground`: a loopback HTTP server for the reader and wallet pages (issue 14).
 *
 * Serves, with nothing fetched from outside the machine:
 *   /reader, /wallet           the pages (HTML made here, with the demo banner)
 *   /web/*.js                  the page bundles built by scripts/build-web.mjs into dist/web at `npm run build`
 *   /web/zxing_full.wasm       the installed zxing-wasm's own wasm file (never a CDN)
 *   /api/setup                 GET: the issuer key set, the demo readers' keys and certificates (demo only), and
 *                              a fresh, empty blocklist signed by the demo issuer (version +1 per request), so
 *                              the readers are not judging with a stale list (spec/reader.md blocklist rules)
 *   /api/wallet-cert           POST {publicKey: hex}: a wallet certificate from the demo issuer
 * Every response carries a Content-Security-Policy with `script-src 'self' 'wasm-unsafe-eval'` (no inline
 * script, no eval; WebAssembly compilation allowed) and `connect-src 'self'`.
 *
 * The demo issuer, vending reader (4201) and gate (5001) live in memory only: the readers' SECRET KEYS are
 * handed to the reader page, which is why every page says "demo" in a banner. Loopback only in this slice:
 * browsers grant the microphone to http://127.0.0.1 and http://localhost but to other origins only over
 * HTTPS, which is not built yet.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { OffpayError } from '../../base/errors.js';
import { Issuer, dayOf } from '../issuer.js';
import { encodeIssuerKeySet, encodeReaderCert, encodeWalletCert } from '../messages.js';
import { publicKeyOf, randomSecretKey } from '../crypto.js';
import { toHex as hex } from '../../base/hex.js';
import { createBlocklist } from '../reader/blocklist.js';
import { pageHtml, type PageName } from './pages.js';

export const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; img-src 'self' blob: data:; style-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm' };

/** Largest request body accepted (the wallet-cert request is ~80 bytes). */
const MAX_BODY = 4096;

export interface PlaygroundOptions {
  port?: number;
  host?: string;
  /** Directory of the built page bundles (default: dist/web next to this file's build). */
  webDir?: string;
  clock?: () => number;
}

export interface Playground {
  server: Server;
  url: string;
  demo: true;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The built pages: dist/web (this file is dist/src/playground/server.js once built). */
export function defaultWebDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
}

interface DemoWorld {
  issuer: Issuer;
  readers: { name: 'vending' | 'gate'; readerId: number; secretKey: Uint8Array; cert: Uint8Array }[];
}

function makeDemo(now: number): DemoWorld {
  const issuer = Issuer.fromSecret(1, 1, randomSecretKey(), now - 86400, now + 365 * 86400);
  const reader = (name: 'vending' | 'gate', readerId: number, operatorId: number) => {
    const sk = randomSecretKey();
    const cert = issuer.issueReaderCert(
      { readerId, readerPublicKey: publicKeyOf(sk), operatorId, profile: name === 'gate' ? 'transit' : 'vending', notBefore: now - 60, notAfter: now + 365 * 86400 },
      now,
    );
    return { name, readerId, secretKey: sk, cert: encodeReaderCert(cert) };
  };
  return { issuer, readers: [reader('vending', 4201, 90), reader('gate', 5001, 77)] };
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.writeHead(status, {
    'content-type': type,
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
  });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new OffpayError('playground.bad_request', `request body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

/** Start the playground server; resolves once it listens. */
export async function startPlayground(options: PlaygroundOptions = {}): Promise<Playground> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    throw new OffpayError('playground.needs_https', `--host ${host} is not a loopback address: browsers give the microphone and camera to other origins only over HTTPS, which the playground does not serve yet; use --host 127.0.0.1`);
  }
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new OffpayError('playground.bad_port', `--port must be an integer 0..65535, got ${String(port)}`);
  const webDir = options.webDir ?? defaultWebDir();
  if (!existsSync(join(webDir, 'reader.js'))) throw new OffpayError('playground.not_built', `the page bundles are missing in ${webDir} (npm run build makes them)`);
  const wasm = createRequire(import.meta.url).resolve('zxing-wasm/full/zxing_full.wasm');
  const clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  const world = makeDemo(clock());
  let blocklistVersion = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    if (req.method === 'GET' && (path === '/' || path === '/reader' || path === '/wallet')) {
      return send(res, 200, 'text/html; charset=utf-8', pageHtml((path === '/' ? 'index' : path.slice(1)) as PageName | 'index'));
    }
    if (req.method === 'GET' && path === '/api/setup') {
      const body = {
        demo: true,
        issuerKeys: hex(encodeIssuerKeySet(world.issuer.keySet())),
        readers: world.readers.map((r) => ({ name: r.name, readerId: r.readerId, secretKey: hex(r.secretKey), cert: hex(r.cert) })),
        blocklist: hex(createBlocklist(world.issuer.currentKey(clock()), { issuerId: world.issuer.issuerId, version: ++blocklistVersion, issuedAt: clock(), walletIds: [] }).bytes),
      };
      return send(res, 200, 'application/json', JSON.stringify(body));
    }
    if (req.method === 'POST' && path === '/api/wallet-cert') {
      const body = JSON.parse(await readBody(req)) as { publicKey?: unknown };
      if (typeof body.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(body.publicKey)) throw new OffpayError('playground.bad_request', 'publicKey must be 32 bytes of hex');
      const now = clock();
      const cert = world.issuer.issueWalletCert(
        { walletPublicKey: Uint8Array.from(Buffer.from(body.publicKey, 'hex')), expiryDay: dayOf(now) + 30, maxPerPayment: 20_000, offlineAllowance: 50_000, currency: 344 },
        now,
      );
      return send(res, 200, 'application/json', JSON.stringify({ demo: true, cert: hex(encodeWalletCert(cert)) }));
    }
    if (req.method === 'GET' && path === '/web/zxing_full.wasm') return send(res, 200, TYPES['.wasm']!, readFileSync(wasm));
    if (req.method === 'GET' && path.startsWith('/web/')) {
      const file = normalize(join(webDir, decodeURIComponent(path.slice(5))));
      if (file.startsWith(webDir + sep) && TYPES[extname(file)] && existsSync(file) && statSync(file).isFile()) return send(res, 200, TYPES[extname(file)]!, readFileSync(file));
    }
    send(res, 404, 'text/plain', 'not found');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const code = e instanceof OffpayError ? e.code : 'playground.bad_request';
      if (!res.headersSent) send(res, 400, 'application/json', JSON.stringify({ error: code, message: (e as Error)?.message ?? String(e) }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new OffpayError('playground.listen_failed', `cannot listen on ${host}:${port}: ${e.message}`)));
    server.listen(port, host, resolve);
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${shown}:${addr.port}`,
    demo: true,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
