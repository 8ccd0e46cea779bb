/**
 * `offpay playground`: serve the browser reader and wallet pages (src/playground/server.ts) until SIGINT or
 * SIGTERM. A demo issuer, or a real one (--issuer DIR --reader DIR [--reader DIR]); http on loopback, https
 * with a self-signed certificate on any other --host (spec/playground.md §1).
 */
import { EXIT_OK, UsageError, type Command } from '../framework.js';
import { startPlayground, type Playground } from '../../playground/server.js';
import { WALLET_TERMS } from '../../playground/world.js';

function worldLines(pg: Playground): string[] {
  const w = pg.world;
  if (w.demo) return [`offpay playground (DEMO issuer, in memory; nothing leaves this machine) at ${pg.url}`];
  const readers = w.readers.map((r) => `${r.name === 'gate' ? 'gate' : 'vending machine'} ${r.readerId} (operator ${r.operatorId}, ${r.dir})`).join(' and ');
  const b = w.blocklistSource;
  const list =
    b.kind === 'file'
      ? `blocklist: ${b.path}, version ${b.version}, ${b.entries} wallets, issued ${new Date(b.issuedAt * 1000).toISOString()}`
      : b.kind === 'signed-at-start'
        ? 'blocklist: none in the issuer directory, so an empty list (version 1) signed now by the issuer; put the newest list from `offpay clearing blocklist --out ISSUER/blocklist.cbor` there for real use'
        : '';
  return [
    `offpay playground serving as issuer ${w.issuerId}: ${readers}, at ${pg.url}`,
    `WARNING: the reader page is the reader. It gets the SECRET KEY of ${w.readers.map((r) => `reader ${r.readerId}`).join(' and ')}: anyone who can open this server's pages can act as ${w.readers.length > 1 ? 'those readers' : 'that reader'}.`,
    `  ${list}`,
    w.issuesWallets
      ? `  --issue-wallets: /api/wallet-cert gives ANY caller a real wallet certificate from issuer ${w.issuerId} (${(WALLET_TERMS.maxPerPayment / 100).toFixed(2)} a payment, ${(WALLET_TERMS.offlineAllowance / 100).toFixed(2)} offline, HKD, ${WALLET_TERMS.days} days)`
      : `  wallet certificates: not issued (the wallet page says to restart with --issue-wallets)`,
  ];
}

const playground: Command = {
  name: 'playground',
  summary: 'serve a browser wallet and reader that pay each other by sound and QR code (a demo issuer, or yours)',
  usage: '[--port N] [--host ADDR] [--issuer ISSUER --reader READER [--reader READER] [--issue-wallets]] [--tls-dir DIR | --tls-cert F --tls-key F] [--https]',
  options: {
    port: { type: 'string', arg: 'N', help: 'TCP port (default 8080; 0 picks a free one)' },
    host: { type: 'string', arg: 'ADDR', help: 'address to listen on (default 127.0.0.1, http); any non-loopback address (0.0.0.0, a LAN address) serves https' },
    issuer: { type: 'string', arg: 'ISSUER', help: 'a real issuer directory (keyset.cbor; issuer.json to sign wallets or an empty blocklist); needs --reader' },
    reader: { type: 'string', multiple: true, arg: 'READER', help: "a reader directory of that issuer: the page's vending machine or gate by its certificate's profile (at most one of each)" },
    'issue-wallets': { type: 'boolean', help: 'with --issuer: let the wallet page get a real wallet certificate from that issuer' },
    https: { type: 'boolean', help: 'serve https on a loopback host too (tests)' },
    'tls-dir': { type: 'string', arg: 'DIR', help: 'where the self-signed certificate is kept, made on first run (default ~/.config/offpay/playground)' },
    'tls-cert': { type: 'string', arg: 'FILE', help: 'your own certificate (PEM) instead of the self-signed one; with --tls-key' },
    'tls-key': { type: 'string', arg: 'FILE', help: 'the private key (PEM) of --tls-cert' },
  },
  details: [
    'Without --issuer a throw-away demo issuer, vending machine 4201 and gate 5001 are made in memory, and every page says DEMO.',
    'With --issuer ISSUER --reader READER... the pages serve that issuer\'s key set and those readers\' keys and certificates: the reader page holds their secret keys.',
    'Browsers give the microphone and camera only to secure origins: on a non-loopback --host the server speaks https with a self-signed ECDSA certificate naming this machine\'s addresses; open the printed https URL on the phone and compare the SHA-256 fingerprint on its warning page before accepting.',
    'Open /reader?fare=2.00&currency=HKD (a gate), /reader?amount=12.50&currency=HKD (a vending machine) and /wallet.',
    'Exit 2 on bad options or directories (playground.bad_options, bad_issuer, bad_reader, bad_blocklist, bad_tls, bad_port, listen_failed).',
  ].join('\n'),
  async run(ctx) {
    const portText = ctx.opt('port') ?? '8080';
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new UsageError(`--port must be an integer 0..65535, got '${portText}'`);
    const readers = (ctx.values.reader as string[] | undefined) ?? [];
    const pg = await startPlayground({
      port: Number(portText),
      host: ctx.opt('host') ?? '127.0.0.1',
      ...(ctx.opt('issuer') !== undefined ? { issuerDir: ctx.opt('issuer') } : {}),
      readerDirs: readers,
      issueWallets: ctx.flag('issue-wallets'),
      https: ctx.flag('https'),
      ...(ctx.opt('tls-dir') !== undefined ? { tlsDir: ctx.opt('tls-dir') } : {}),
      ...(ctx.opt('tls-cert') !== undefined ? { tlsCert: ctx.opt('tls-cert') } : {}),
      ...(ctx.opt('tls-key') !== undefined ? { tlsKey: ctx.opt('tls-key') } : {}),
    });
    for (const line of worldLines(pg)) ctx.out(line);
    const gate = pg.world.readers.find((r) => r.name === 'gate');
    const vending = pg.world.readers.find((r) => r.name === 'vending');
    if (gate) ctx.out(`  gate:    ${pg.url}/reader?fare=2.00&currency=HKD`);
    if (vending) ctx.out(`  vending: ${pg.url}/reader?amount=12.50&currency=HKD`);
    ctx.out(`  wallet:  ${pg.url}/wallet`);
    if (pg.tls) {
      const t = pg.tls;
      const how = t.source === 'given' ? 'your certificate' : t.source === 'reused' ? 'the kept self-signed certificate' : `a new self-signed certificate${t.replaced ? ` (the kept one was replaced: ${t.replaced})` : ''}`;
      ctx.out(`https with ${how} ${t.certPath}, valid to ${t.validTo}`);
      ctx.out(`  names:   ${t.subjectAltName}`);
      ctx.out(`  SHA-256 fingerprint (check it on the phone's certificate warning before accepting):`);
      ctx.out(`           ${t.fingerprint256}`);
      for (const u of pg.lanUrls) ctx.out(`  on the phone: ${u}/wallet   ${u}/reader?fare=2.00&currency=HKD`);
    }
    ctx.emit({
      url: pg.url,
      lanUrls: pg.lanUrls,
      demo: pg.demo,
      issuerId: pg.world.issuerId,
      readers: pg.world.readers.map((r) => ({ name: r.name, readerId: r.readerId })),
      issuesWallets: pg.world.issuesWallets,
      blocklist: pg.world.blocklistSource,
      ...(pg.tls ? { tls: { source: pg.tls.source, certPath: pg.tls.certPath, fingerprint256: pg.tls.fingerprint256, validTo: pg.tls.validTo, subjectAltName: pg.tls.subjectAltName } } : {}),
    });
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await pg.close();
    return EXIT_OK;
  },
};

export const commands: Command[] = [playground];
