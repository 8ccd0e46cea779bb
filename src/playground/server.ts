/**
 * `offpay playground`: an HTTP(S) server for the reader and wallet pages (issue 14, spec/playground.md §1).
 *
 * Serves, with nothing fetched from outside the machine:
 *   /reader, /wallet           the pages (HTML made here, with a banner naming whose keys they hold)
 *   /web/*.js                  the page bundles built by scripts/build-web.mjs into dist/web at `npm run build`
 *   /web/zxing_full.wasm       the installed zxing-wasm's own wasm file (never a CDN)
 *   /api/setup                 GET: the issuer key set, the readers' keys and certificates, and a signed
 *                              blocklist (world.ts: demo or real issuer)
 *   /api/wallet-cert           POST {publicKey: hex}: a wallet certificate (demo; a real issuer only with
 *                              --issue-wallets, else 403 playground.no_wallet_certs)
 * Every response carries a Content-Security-Policy with `script-src 'self' 'wasm-unsafe-eval'` (no inline
 * script, no eval; WebAssembly compilation allowed) and `connect-src 'self'`.
 *
 * Loopback hosts serve http (a secure origin already); any other host serves https (tls.ts), since browsers
 * grant the microphone and camera only to secure origins. `https: true` forces TLS on loopback (tests).
 */
import { isLoopback } from '../loopback.js';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { networkInterfaces } from 'node:os';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { OffpayError } from '../../base/errors.js';
import { toHex as hex } from '../../base/hex.js';
import { pageHtml, type PageName } from './pages.js';
import { certificateNames, defaultTlsDir, tlsFromDir, tlsFromFiles, type TlsMaterial } from './tls.js';
import { loadRealWorld, makeDemoWorld, type World } from './world.js';

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
  /** A real issuer directory (keyset.cbor, issuer.json when something must be signed); needs readerDirs. */
  issuerDir?: string;
  /** One or two reader directories (reader.json) of that issuer: at most one vending and one transit. */
  readerDirs?: string[];
  /** With a real issuer: let /api/wallet-cert certify wallets (real spending power). */
  issueWallets?: boolean;
  /** Serve https on a loopback host too (tests); non-loopback hosts always serve https. */
  https?: boolean;
  /** Where the self-signed certificate is kept (default {@link defaultTlsDir}). */
  tlsDir?: string;
  /** Your own certificate and key (PEM), instead of the self-signed one. Both or neither. */
  tlsCert?: string;
  tlsKey?: string;
}

export interface Playground {
  server: Server;
  /** The address it listens on (http://127.0.0.1:PORT, https://[::]:PORT ...). */
  url: string;
  /** URLs to open from another device: one per non-internal address when listening on all addresses. */
  lanUrls: string[];
  demo: boolean;
  world: Pick<World, 'demo' | 'issuerId' | 'readers' | 'issuesWallets' | 'blocklistSource'>;
  /** The TLS certificate served, when https. */
  tls: Omit<TlsMaterial, 'key'> | undefined;
  close(): Promise<void>;
}

export { isLoopback };

/** The built pages: dist/web (this file is dist/src/playground/server.js once built). */
export function defaultWebDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
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

/**
 * The request body as text, at most MAX_BODY bytes: a larger Content-Length is refused before reading, a body
 * that runs past it while read is refused and the rest drained, so that the 400 answer reaches the client (the
 * connection is then closed).
 */
function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) return Promise.reject(new OffpayError('playground.bad_request', `request body over ${MAX_BODY} bytes`));
  return new Promise((resolve, reject) => {
    let size = 0;
    let over = false;
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > MAX_BODY) {
        over = true;
        parts.length = 0;
        reject(new OffpayError('playground.bad_request', `request body over ${MAX_BODY} bytes`));
        return;
      }
      parts.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(parts).toString('utf8'));
    });
    req.on('error', reject);
  });
}

/**
 * Whether a request's Host names this server (spec/playground.md §1.4): over http (loopback only) a loopback
 * name; over https any name, since a page of another site that a rebinding DNS points here fails the
 * certificate. A page on http://attacker.example whose name later resolves to 127.0.0.1 is same-origin with
 * its own requests: without this, it read /api/setup (the readers' secret keys) and took wallet certificates.
 */
export function hostAllowed(hostHeader: string | undefined, tls: boolean): boolean {
  if (tls) return true;
  if (!hostHeader) return false;
  const name = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.replace(/:\d+$/, '');
  return isLoopback(name.toLowerCase()); // 'localhost' is in LOOPBACK
}

/** The options after validation: every combination rule in one place (spec/playground.md §1.1). */
interface Checked {
  host: string;
  port: number;
  tls: boolean;
  real: { issuerDir: string; readerDirs: string[] } | undefined;
}

const bad = (msg: string): never => {
  throw new OffpayError('playground.bad_options', msg);
};

/**
 * Validate the options (spec/playground.md §1.1, in that order) before anything is read or bound.
 * @throws OffpayError `playground.bad_port` or `playground.bad_options`, naming the option.
 */
export function checkOptions(o: PlaygroundOptions): Checked {
  const port = o.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new OffpayError('playground.bad_port', `--port must be an integer 0..65535, got ${String(port)}`);
  const host = o.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0 || host.length > 253) bad('--host must be an address or a host name');
  const readerDirs = o.readerDirs ?? [];
  if ((o.issuerDir === undefined) !== (readerDirs.length === 0)) bad('--issuer and --reader go together: give both (a real issuer and its readers) or neither (a demo issuer)');
  if (readerDirs.length > 2) bad(`--reader given ${readerDirs.length} times: at most two (one vending, one transit reader)`);
  if (o.issueWallets && o.issuerDir === undefined) bad('--issue-wallets needs --issuer (the demo issuer always certifies wallets)');
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) bad('--tls-cert and --tls-key go together');
  if (o.tlsCert !== undefined && o.tlsDir !== undefined) bad('--tls-dir keeps the self-signed certificate; with --tls-cert and --tls-key there is none to keep');
  const tls = o.https === true || !isLoopback(host);
  if (!tls && (o.tlsCert !== undefined || o.tlsDir !== undefined)) bad(`--host ${host} is loopback and served over http: TLS options need a non-loopback --host (or --https)`);
  return { host, port, tls, real: o.issuerDir === undefined ? undefined : { issuerDir: o.issuerDir, readerDirs } };
}

/** The URLs another device uses: each non-internal address when listening on all of them, else the host. */
function lanUrlsOf(scheme: string, host: string, port: number): string[] {
  const wild = host === '0.0.0.0' || host === '::' || host === '[::]';
  if (!wild) return isLoopback(host) ? [] : [`${scheme}://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.internal) continue;
      if (i.family === 'IPv4') out.push(`${scheme}://${i.address}:${port}`);
      else if (host !== '0.0.0.0' && !i.address.toLowerCase().startsWith('fe80:')) out.push(`${scheme}://[${i.address}]:${port}`); // link-local needs a zone a URL cannot carry
    }
  }
  return out;
}

/** Start the playground server; resolves once it listens. */
export async function startPlayground(options: PlaygroundOptions = {}): Promise<Playground> {
  const o = checkOptions(options);
  const webDir = options.webDir ?? defaultWebDir();
  if (!existsSync(join(webDir, 'reader.js'))) throw new OffpayError('playground.not_built', `the page bundles are missing in ${webDir} (npm run build makes them)`);
  const wasm = createRequire(import.meta.url).resolve('zxing-wasm/full/zxing_full.wasm');
  const clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  const world: World = o.real ? loadRealWorld({ ...o.real, issueWallets: options.issueWallets === true }, clock()) : makeDemoWorld(clock());
  let tls: TlsMaterial | undefined;
  if (o.tls) {
    tls = options.tlsCert !== undefined ? tlsFromFiles(options.tlsCert, options.tlsKey!) : tlsFromDir(options.tlsDir ?? defaultTlsDir(), certificateNames(o.host), clock());
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!hostAllowed(req.headers.host, o.tls)) {
      return send(res, 421, 'application/json', JSON.stringify({ error: 'playground.bad_host', message: `Host ${JSON.stringify(req.headers.host ?? '')} is not this server: open it at a loopback address (127.0.0.1, localhost)` }));
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    if (req.method === 'GET' && (path === '/' || path === '/reader' || path === '/wallet')) {
      return send(res, 200, 'text/html; charset=utf-8', pageHtml((path === '/' ? 'index' : path.slice(1)) as PageName | 'index', world));
    }
    if (req.method === 'GET' && path === '/api/setup') {
      const body = {
        demo: world.demo,
        issuerId: world.issuerId,
        issuerKeys: hex(world.issuerKeys),
        readers: world.readers.map((r) => ({ name: r.name, readerId: r.readerId, secretKey: hex(r.secretKey), cert: hex(r.cert) })),
        blocklist: hex(world.blocklist(clock())),
        issuesWallets: world.issuesWallets,
      };
      return send(res, 200, 'application/json', JSON.stringify(body));
    }
    if (req.method === 'POST' && path === '/api/wallet-cert') {
      if (!world.issuesWallets) {
        return send(res, 403, 'application/json', JSON.stringify({
          error: 'playground.no_wallet_certs',
          message: `This playground serves issuer ${world.issuerId}'s real keys and does not certify wallets: restart it with --issue-wallets to let this page get a wallet certificate from issuer ${world.issuerId} (HKD, 200.00 a payment, 500.00 offline, 30 days).`,
        }));
      }
      // Only the playground's own pages ask: JSON (a form or text/plain POST, which another site may send without
      // asking the browser first, is refused) from this origin when the browser names one.
      if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) throw new OffpayError('playground.bad_request', 'Content-Type must be application/json');
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== `${o.tls ? 'https' : 'http'}://${req.headers.host ?? ''}`) throw new OffpayError('playground.bad_request', `a request from another origin (${origin})`);
      const body = JSON.parse(await readBody(req)) as { publicKey?: unknown };
      if (typeof body?.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(body.publicKey)) throw new OffpayError('playground.bad_request', 'publicKey must be 32 bytes of hex');
      let cert: Uint8Array;
      try {
        cert = world.walletCert(Uint8Array.from(Buffer.from(body.publicKey, 'hex')), clock());
      } catch (e) {
        if (e instanceof OffpayError && e.code === 'issuer.weak_public_key') throw new OffpayError('playground.bad_request', `publicKey is not a key a wallet may hold: ${e.message}`);
        throw e;
      }
      return send(res, 200, 'application/json', JSON.stringify({ demo: world.demo, cert: hex(cert) }));
    }
    if (req.method === 'GET' && path === '/web/zxing_full.wasm') return send(res, 200, TYPES['.wasm']!, readFileSync(wasm));
    if (req.method === 'GET' && path.startsWith('/web/')) {
      const file = normalize(join(webDir, decodeURIComponent(path.slice(5))));
      if (file.startsWith(webDir + sep) && TYPES[extname(file)] && existsSync(file) && statSync(file).isFile()) return send(res, 200, TYPES[extname(file)]!, readFileSync(file));
    }
    send(res, 404, 'text/plain', 'not found');
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((e: unknown) => {
      const code = e instanceof OffpayError ? e.code : 'playground.bad_request';
      if (res.headersSent) return;
      res.setHeader('connection', 'close'); // the rest of a refused body is not read
      send(res, 400, 'application/json', JSON.stringify({ error: code, message: (e as Error)?.message ?? String(e) }));
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, listener) : createHttpServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new OffpayError('playground.listen_failed', `cannot listen on ${o.host}:${o.port}: ${e.message}`)));
    server.listen(o.port, o.host.replace(/^\[|\]$/g, ''), resolve);
  });
  const addr = server.address() as AddressInfo;
  // Listening on every address: this machine reaches it over loopback (the LAN URLs are in lanUrls).
  const local = addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address === '::' ? '::1' : addr.address;
  const shown = local.includes(':') ? `[${local}]` : local;
  const scheme = tls ? 'https' : 'http';
  const { key: _key, ...tlsShown } = tls ?? { key: '' };
  void _key;
  return {
    server,
    url: `${scheme}://${shown}:${addr.port}`,
    lanUrls: lanUrlsOf(scheme, o.host, addr.port),
    demo: world.demo,
    world: { demo: world.demo, issuerId: world.issuerId, readers: world.readers, issuesWallets: world.issuesWallets, blocklistSource: world.blocklistSource },
    tls: tls ? (tlsShown as Omit<TlsMaterial, 'key'>) : undefined,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections?.();
      }),
  };
}
