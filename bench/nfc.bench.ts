/**
 * NFC benchmark: NDEF and APDU codec costs, the card application per APDU, a whole in-memory tap (transport
 * only, and with the real wallet signing and the reader verifying), the computed air time of real-size
 * exchanges, and, with `--pcsc`, wall time per APDU through pcscd + vpcd on this machine.
 * Results: bench/results/nfc.md and .json. Run: npm run build && node dist/bench/nfc.bench.js [--pcsc] [--quick]
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import {
  CardApplication,
  OFFPAY_NDEF_TYPE,
  TNF,
  airTime,
  decodeNdefMessage,
  decodeTokenNdef,
  encodeNdefMessage,
  encodeTokenNdef,
  memoryLink,
  ndefRecord,
  parseCommand,
  transact,
  type CardWallet,
} from '../codecs/nfc/index.js';
import { Issuer, MemoryCounterStore, Wallet, createReceipt, createRequest, dayOf, publicKeyOf, requestContextOf, seededSecretKey, tokenHash, verifyToken } from '../src/index.js';
import { nodeEd25519 } from '../src/node/crypto.js';
import { benchSuite, machine, writeResults } from './common.js';

const quick = process.argv.includes('--quick');
const withPcsc = process.argv.includes('--pcsc');

// The real protocol objects (seeded): a 205-byte token answering a 207-byte request.
const NOW = 1_795_000_000;
const issuer = Issuer.fromSecret(1, 1, seededSecretKey('bench-nfc', 'issuer'), NOW - 1e7, NOW + 1e7);
const wsk = seededSecretKey('bench-nfc', 'wallet');
const wcert = issuer.issueWalletCert({ walletPublicKey: publicKeyOf(wsk), expiryDay: dayOf(NOW) + 30, maxPerPayment: 1e9, offlineAllowance: 2 ** 32 - 1, currency: 344 }, NOW);
const rsk = seededSecretKey('bench-nfc', 'reader');
const rcert = issuer.issueReaderCert({ readerId: 4201, readerPublicKey: publicKeyOf(rsk), operatorId: 0, profile: 'vending', notBefore: NOW - 1e6, notAfter: NOW + 1e6 }, NOW);
const reader = { secretKey: rsk, cert: rcert };
const node = nodeEd25519();
const { bytes: requestBytes, request } = createRequest(reader, { amount: 1250, currency: 344, time: NOW });
const wallet = new Wallet({ secretKey: wsk, cert: wcert, counter: new MemoryCounterStore(), clock: () => NOW });
const sampleToken = await new Wallet({ secretKey: wsk, cert: wcert, counter: new MemoryCounterStore(), clock: () => NOW }).pay(requestBytes);

const opaque300 = Uint8Array.from({ length: 300 }, (_, i) => (i * 31) & 0xff);
const opaqueWallet: CardWallet = { getToken: async () => opaque300, receipt: async () => undefined };
const realWallet: CardWallet = {
  getToken: (req) => wallet.pay(req, { issuerKeys: issuer.keySet(), verifier: node }),
  receipt: async () => undefined,
};
const vctx = { issuerKeys: issuer.keySet(), now: NOW, payees: [4201], request: requestContextOf(request) };
const verify = async (token: Uint8Array) => {
  const v = verifyToken(token, vctx, node);
  const { bytes } = createReceipt(reader, { readerId: 4201, tokenHash: tokenHash(token), outcome: v.accepted ? 'accepted' : 'rejected', reason: v.accepted ? 0 : v.code, time: NOW });
  return { verdict: v.accepted, receipt: bytes };
};
const check = await transact(memoryLink(new CardApplication(realWallet)), { request: requestBytes, verify });
if (!check.verdict) throw new Error('benchmark tap is not accepted');

const ndefMsg = encodeTokenNdef(sampleToken);
const ndefChunked = encodeNdefMessage([ndefRecord(TNF.EXTERNAL, OFFPAY_NDEF_TYPE, sampleToken)], { chunkSize: 64 });
const getToken = Uint8Array.from([0x80, 0x10, 0, 0, requestBytes.length, ...requestBytes, 0]);
const select = Uint8Array.from([0x00, 0xa4, 0x04, 0x00, 0x08, 0xf0, 0x4f, 0x46, 0x46, 0x50, 0x41, 0x59, 0x01, 0x00]);

const minSamples = quick ? 5 : 20;
const { add, addAsync, run } = benchSuite('nfc', minSamples);

add(`NDEF encode offpay record (${sampleToken.length} B token)`, () => encodeTokenNdef(sampleToken));
add('NDEF decode + token extraction', () => decodeTokenNdef(ndefMsg));
add('NDEF decode, 4 chunks reassembled', () => decodeNdefMessage(ndefChunked));
add(`APDU parse GET TOKEN (${getToken.length} B)`, () => parseCommand(getToken));
const selCard = new CardApplication(opaqueWallet);
addAsync('card: SELECT', () => selCard.process(select));
addAsync('tap in memory, transport only: SELECT + GET TOKEN + GET RESPONSE + RECEIPT (300 B token)', () =>
  transact(memoryLink(new CardApplication(opaqueWallet)), { request: requestBytes, verify: async () => ({ verdict: 1, receipt: opaque300.subarray(0, 100) }) }),
);
addAsync('tap in memory, real wallet (verify request + sign) and reader (verify token + sign receipt), node:crypto', () =>
  transact(memoryLink(new CardApplication(realWallet)), { request: requestBytes, verify }),
);

const rows = await run();

// Computed air time of the real exchange (no wall clock involved).
const air = {
  requestBytes: requestBytes.length,
  tokenBytes: sampleToken.length,
  receiptBytes: check.trace.at(-1)!.command.length - 5,
  tokenPhase: airTime(check.trace.slice(0, -1)),
  tokenPhaseFs64: airTime(check.trace.slice(0, -1), { fsd: 64, fsc: 64 }),
  withReceipt: airTime(check.trace),
  roundTrips: check.trace.length,
};

// Optional: wall time through the real PC/SC stack.
interface PcscResult {
  taps: number;
  apdus: number;
  msPerApduMedian: number;
  msPerTapMedian: number;
}
let pcsc: PcscResult | string = 'not measured (run with --pcsc)';
if (withPcsc) pcsc = await measurePcsc(quick ? 3 : 10).catch((e: unknown) => `failed: ${(e as Error).message}`);

async function measurePcsc(taps: number): Promise<PcscResult> {
  let child: ChildProcess | undefined;
  const running = (() => {
    try {
      execFileSync('pgrep', ['-x', 'pcscd'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  if (!running) child = spawn('pcscd', ['--foreground'], { stdio: 'ignore' });
  try {
    const listening = () => readFileSync('/proc/net/tcp', 'utf8').includes(':8C7B 00000000:0000 0A');
    for (let i = 0; i < 100 && !(existsSync('/run/pcscd/pcscd.comm') && listening()); i++) await new Promise((r) => setTimeout(r, 100));
    const { serveCardOverVpcd, openPcscCard } = await import('../codecs/nfc/node.js');
    const perApdu: number[] = [];
    const perTap: number[] = [];
    let apdus = 0;
    for (let i = 0; i < taps; i++) {
      const served = await serveCardOverVpcd(realWallet);
      const pc = await openPcscCard({ reader: 'Virtual PCD 00 00', timeoutMs: 15_000 });
      const t0 = performance.now();
      const r = await transact(pc.link, { request: requestBytes, verify });
      const ms = performance.now() - t0;
      perTap.push(ms);
      perApdu.push(ms / r.trace.length);
      apdus += r.trace.length;
      await served.close();
      await pc.waitForRemoval();
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    return { taps, apdus, msPerApduMedian: Number(median(perApdu).toFixed(2)), msPerTapMedian: Number(median(perTap).toFixed(2)) };
  } finally {
    if (child) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

const m = machine();
const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const md = [
  '# NFC benchmark (`node dist/bench/nfc.bench.js [--pcsc]`)',
  '',
  `Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.date}. benchmark.js, at least ${minSamples} samples per row.`,
  `Real protocol objects: request ${air.requestBytes} B, token ${air.tokenBytes} B, receipt ${air.receiptBytes} B.`,
  '',
  '| operation | ops/s | µs/op | ±% |',
  '|---|---:|---:|---:|',
  ...rows.map((r) => `| ${r.name} | ${fmt(r.hz)} | ${r.usPerOp.toFixed(1)} | ${r.rme.toFixed(1)} |`),
  '',
  '## Computed air time (ISO-DEP at 106 kbit/s, spec/nfc.md §6; not measured)',
  '',
  '| exchange | round trips | bytes on air | air time |',
  '|---|---:|---:|---:|',
  `| SELECT + GET TOKEN, FS 256 | ${check.trace.length - 1} | ${air.tokenPhase.bytes} | ${air.tokenPhase.ms.toFixed(1)} ms |`,
  `| SELECT + GET TOKEN, FS 64 | ${check.trace.length - 1} | ${air.tokenPhaseFs64.bytes} | ${air.tokenPhaseFs64.ms.toFixed(1)} ms |`,
  `| ... + PUT RECEIPT, FS 256 | ${check.trace.length} | ${air.withReceipt.bytes} | ${air.withReceipt.ms.toFixed(1)} ms |`,
  '',
  '## Through pcscd + vpcd on loopback (wall clock)',
  '',
  typeof pcsc === 'string'
    ? pcsc
    : `${pcsc.taps} taps, ${pcsc.apdus} APDUs: median ${pcsc.msPerApduMedian} ms per APDU, ${pcsc.msPerTapMedian} ms per tap (SELECT to receipt). ` +
      "Debian's vpcd 0.8 stalls ~40 ms per message on loopback (split writes + Nagle/delayed ACK, research note §2.5); " +
      'this measures the test rig, not a phone.',
  '',
].join('\n');
writeResults('nfc', md, { machine: m, rows, air, pcsc });
process.stdout.write(`\n${md}\nwritten bench/results/nfc.md\n`);
