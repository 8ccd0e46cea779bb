/**
 * From a review of the fixes 64c5f28 (NFC), f026a79 (wallet, QR images) and e58546d (reader listen), each test one
 * defect it found in them (they failed on the reviewed code): the image-data walker's valid code sets (zlib's
 * rules) and its work bound (spec/qr.md §8 step 3), saveWallet over a dangling link (spec/protocol.md §9.4), the
 * CC checks (spec/nfc.md §3.4), one payment per tap with a payment in flight (§4.3), and what `nfc read` says
 * when the card stays (§5 item 7).
 */
import { inflateSync } from 'node:zlib';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { zlibInflatedSize } from '../../codecs/qr/inflate-size.js';
import { inspectImage, pngMaxImageStreamBytes } from '../../codecs/qr/image.js';
import { codeOf, errorCode } from '../qr/helpers.js';
import { pngGrayWithIdat } from '../../codecs/qr/sim/png.js';
import { encodeCommand, parseResponse } from '../../codecs/nfc/apdu.js';
import { CardApplication, OFFPAY_AID } from '../../codecs/nfc/card.js';
import { memoryLink } from '../../codecs/nfc/session.js';
import { readNdefTag } from '../../codecs/nfc/t4t.js';
import type { PcscCard } from '../../codecs/nfc/pcsc.js';
import { commands as nfcCommands } from '../../src/cli/commands/nfc.js';
import { commands as coreCommands } from '../../src/cli/commands/core.js';
import { loadIssuerKeys, loadReader, loadWallet, saveWallet } from '../../src/node/files.js';
import { createRequest } from '../../src/request.js';
import { Issuer, publicKeyOf, seededSecretKey, dayOf, type CounterState } from '../../src/index.js';
import { fakeVpcd, fileTag, runCli } from '../nfc/helpers.js';

// ------------------------------------------------------------------------------------------------ mocks

/** `openPcscCard` replaced by the test (for `offpay nfc read`); the rest of pcsc.js is real. */
const pcscMock = vi.hoisted(() => ({ open: undefined as undefined | (() => Promise<unknown>) }));
vi.mock('../../codecs/nfc/pcsc.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../codecs/nfc/pcsc.js')>();
  return { ...actual, openPcscCard: () => pcscMock.open!() };
});

/** `loadWallet` passes through, unless `slow.gate` is set: then every reserve waits for it (a slow wallet). */
const slow = vi.hoisted(() => ({ gate: undefined as undefined | Promise<void> }));
vi.mock('../../src/node/files.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/node/files.js')>();
  const { Wallet: W } = await import('../../src/wallet.js');
  return {
    ...actual,
    loadWallet: (dir: string, clock?: () => number) => {
      const w = actual.loadWallet(dir, clock);
      if (!slow.gate) return w;
      const store = w.store;
      const gated = {
        load: () => store.load(),
        reserve: async (step: (s: CounterState) => CounterState) => {
          await slow.gate;
          return store.reserve(step);
        },
      };
      return new W({ secretKey: w.secretKey, cert: w.cert, counter: gated });
    },
  };
});

const NOW = 1_795_000_000;

// ------------------------------------------------------------------------------------------------ bits

/** An LSB-first bit writer (DEFLATE order); `huff` writes a Huffman code most significant bit first. */
class Bits {
  bytes: number[] = [];
  private acc = 0;
  private n = 0;
  put(v: number, k: number): void {
    for (let i = 0; i < k; i++) {
      this.acc |= ((v >> i) & 1) << this.n;
      if (++this.n === 8) {
        this.bytes.push(this.acc);
        this.acc = 0;
        this.n = 0;
      }
    }
  }
  huff(code: number, len: number): void {
    for (let i = len - 1; i >= 0; i--) this.put((code >> i) & 1, 1);
  }
  done(): number[] {
    if (this.n) this.bytes.push(this.acc);
    this.acc = 0;
    this.n = 0;
    return this.bytes;
  }
}
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** Adler-32 (RFC 1950), for hand-built zlib streams. */
function adler32(d: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (const x of d) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const grayPngWithIdat = (w: number, h: number, zlib: Uint8Array): Uint8Array => pngGrayWithIdat(zlib, w, h);

// ------------------------------------------------------------------------------------------------ images

describe('QR images: the inflate walker (spec/qr.md §8 step 3)', () => {
  // spec/qr.md §8 step 3 lists "an invalid Huffman code or code-length set" as qr.bad_image. zlib (RFC 1950/1951's
  // reference, and what a C port would call with a bounded output) refuses an incomplete literal/length set
  // ("invalid literal/lengths set"); the reference walker accepts any incomplete set (inflate-size.ts:50), so the
  // two disagree on which PNGs are qr.bad_image and the spec does not say which is meant.
  it('a PNG whose image data uses an incomplete literal/length code (zlib: "invalid literal/lengths set") is qr.bad_image, as zlib judges (it passed)', () => {
    const w = new Bits();
    w.put(1, 1); // BFINAL
    w.put(2, 2); // dynamic
    w.put(0, 5); // HLIT 257
    w.put(0, 5); // HDIST 1
    w.put(14, 4); // HCLEN 18
    // code length code: 18 -> "0", 1 -> "10", 2 -> "11"
    for (let i = 0; i < 18; i++) w.put(CLEN_ORDER[i] === 18 ? 1 : CLEN_ORDER[i] === 1 || CLEN_ORDER[i] === 2 ? 2 : 0, 3);
    w.huff(3, 2); // literal 0: length 2
    w.huff(0, 1);
    w.put(127, 7); // 138 zeros (1..138)
    w.huff(0, 1);
    w.put(106, 7); // 117 zeros (139..255)
    w.huff(3, 2); // 256: length 2   -> lengths {0: 2, 256: 2}: half the code space unused
    w.huff(2, 2); // distance 0: length 1 (a single distance code, which zlib allows)
    w.huff(0, 2); // literal 0
    w.huff(0, 2); // literal 0
    w.huff(1, 2); // end of block
    const body = w.done();
    const a = adler32(new Uint8Array(2));
    const z = Uint8Array.from([0x78, 0x01, ...body, a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255]);
    expect(() => inflateSync(z)).toThrow(/invalid literal\/lengths set/);
    const png = grayPngWithIdat(1, 1, z); // 1x1 gray: E = 2 bytes
    let image = 'accepted';
    try {
      inspectImage(png);
    } catch (e) {
      image = e instanceof OffpayError ? e.code : String(e);
    }
    expect({ walker: zlibInflatedSize(z, 2).kind, image }).toEqual({ walker: 'bad', image: 'qr.bad_image' });
  });

  // The count stops once it passes E, but the walk does not: an 8x8 image (E = 72) may carry megabytes of empty
  // dynamic blocks, each of which rebuilds three Huffman codes (three 512-entry tables). Measured here: 8 MB of
  // such blocks took the walker 11-14 s against node:zlib's 0.8 s for the same stream (~15x), so a 32 MiB PNG
  // (the CLI's cap; the library has none) holds the reader about a minute before anything is decoded. No encoder
  // emits more than about deflateBound(E) bytes for E bytes (zlib: E + E/8 + E/64 + 11 at worst).
  it('cpu: an 8x8 PNG with 560 KB of empty blocks (72 bytes of image) is refused before the walk (the walk read it all, 15 times slower than zlib)', () => {
    const w = new Bits();
    w.bytes.push(0x78, 0x01);
    const blocks = 50_000;
    for (let b = 0; b < blocks; b++) {
      w.put(b === blocks - 1 ? 1 : 0, 1);
      w.put(2, 2);
      w.put(0, 5);
      w.put(0, 5);
      w.put(14, 4);
      for (let i = 0; i < 18; i++) w.put(CLEN_ORDER[i] === 1 || CLEN_ORDER[i] === 18 ? 1 : 0, 3); // 1 -> "0", 18 -> "1"
      w.huff(0, 1); // literal 0: length 1
      w.huff(1, 1);
      w.put(127, 7);
      w.huff(1, 1);
      w.put(106, 7);
      w.huff(0, 1); // 256: length 1
      w.huff(0, 1); // distance 0: length 1
      w.huff(1, 1); // end of block
    }
    const z = Uint8Array.from([...w.done(), 0, 0, 0, 1]);
    expect(inflateSync(z).length).toBe(0); // a valid zlib stream
    let reads = 0;
    const counted = new Proxy(z, {
      get(t, p) {
        if (typeof p === 'string' && /^\d+$/.test(p)) reads++;
        const v = Reflect.get(t, p, t) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    // The walk is bounded by the header: an 8x8 grey image (E = 72) may carry at most E + ceil(E / 8) + 1024 bytes
    // of stream, so this PNG is refused before the walk, having read nothing of the stream.
    expect(pngMaxImageStreamBytes(72)).toBe(72 + 9 + 1024);
    expect(codeOf(() => inspectImage(grayPngWithIdat(8, 8, z)))).toBe('qr.bad_image');
    // The walker alone (the library's zlibInflatedSize, no bound) reads it all, at a count and a sort a block: its
    // Huffman lookup tables are built only for codes that decode more than 32 symbols.
    expect(zlibInflatedSize(counted, 72)).toEqual({ kind: 'ok', bytes: 0 });
    expect(reads).toBeLessThanOrEqual(z.length + 64);
  });
});

// ------------------------------------------------------------------------------------------------ wallet files

describe('saveWallet (spec/protocol.md §9.4: "over one it cannot read with that file.* error, writing nothing")', () => {
  // saveWallet decides "no wallet.json here" with existsSync, which follows symlinks: a wallet.json that is a
  // dangling link (the wallet directory's files live on a volume that is not mounted, a sync folder not yet
  // synced) counts as absent, so a dangling counter.json is replaced by a fresh counter 0 and wallet.json by the
  // key given. If that key is the one on the missing volume (saving its renewed certificate), it signs counter
  // 1, 2, ... again (W1). §9.4 says a wallet.json it cannot read is refused with its file.* error, nothing written.
  it('money: a wallet.json that is a dangling symlink is refused with a file.* error, nothing written (it was overwritten, counter.json reset to 0)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'offpay-fix-review-'));
    try {
      const issuer = Issuer.fromSecret(7, 1, seededSecretKey('fr', 'issuer'), NOW - 86400 * 365, NOW + 86400 * 365);
      const sk = seededSecretKey('fr', 'wallet');
      const cert = issuer.issueWalletCert({ walletPublicKey: publicKeyOf(sk), expiryDay: dayOf(NOW) + 60, maxPerPayment: 50_000, offlineAllowance: 100_000, currency: 344 }, NOW);
      const gone = join(dir, 'volume-not-mounted');
      symlinkSync(join(gone, 'wallet.json'), join(dir, 'wallet.json'));
      symlinkSync(join(gone, 'counter.json'), join(dir, 'counter.json'));
      const code = await errorCode(() => saveWallet(dir, sk, cert));
      const counterReplaced = !lstatSync(join(dir, 'counter.json')).isSymbolicLink();
      expect({ code, counterReplaced, counter: counterReplaced ? JSON.parse(readFileSync(join(dir, 'counter.json'), 'utf8')).counter : undefined }).toEqual({
        code: expect.stringMatching(/^file\./),
        counterReplaced: false,
        counter: undefined,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------------------------------------------ NFC


describe('NFC: readNdefTag CC checks (spec/nfc.md §3.4)', () => {
  // §3.4: "A reader MUST check the CC (CCLEN >= 15, version 2.x or 3.x, MLe >= 15, TLV 04 present, read access 00)
  // [nfc.bad_cc], MUST cap NLEN by the CC's maximum file size". parseCc also refuses a maximum NDEF file size under
  // 5 (t4t.ts:92), which the spec does not list: a port from the spec reads this tag's 2-byte message (NLEN 2,
  // 2 + 2 <= 4), the reference says nfc.bad_cc.
  it('a CC whose maximum NDEF file size is 4 is nfc.bad_cc, a check spec/nfc.md §3.4 now lists (it did not)', async () => {
    const cc = Uint8Array.from(Buffer.from('000f2000ff00ff0406e10400040000'.replace(/\s/g, ''), 'hex'));
    const tag = fileTag(cc, Uint8Array.of(0x00, 0x02, 0xd0, 0x00));
    const out = await readNdefTag({ transmit: (a) => tag.process(a) }).catch((e: unknown) => (e instanceof OffpayError ? e.code : String(e)));
    expect(out).toBe('nfc.bad_cc');
  });
});


async function nfcWorld(tag: string) {
  const dir = mkdtempSync(join(tmpdir(), `offpay-fix-review-${tag}-`));
  const now = '1790000000';
  expect((await runCli(coreCommands, 'issuer init', ['--dir', join(dir, 'issuer'), '--seed', 'fr-i', '--now', now])).code).toBe(0);
  expect((await runCli(coreCommands, 'wallet new', ['--issuer', join(dir, 'issuer'), '--out', join(dir, 'wallet'), '--seed', 'fr-w', '--now', now])).code).toBe(0);
  expect((await runCli(coreCommands, 'reader new', ['--issuer', join(dir, 'issuer'), '--id', '77', '--out', join(dir, 'reader'), '--seed', 'fr-r', '--now', now])).code).toBe(0);
  return { dir, now };
}

describe('NFC: offpay nfc card, one payment per tap (spec/nfc.md §4.3)', () => {
  const SELECT = encodeCommand({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: OFFPAY_AID, ne: 256 });
  const getToken = (req: Uint8Array) => encodeCommand({ cla: 0x80, ins: 0x10, p1: 0, p2: 0, data: req, ne: 256 });

  // §4.3: "A wallet that pays without asking the user each time MUST decline (6985) a second token in one
  // presentation." The CLI checks `payments > 0` when a GET TOKEN arrives but counts a payment only when
  // wallet.pay has finished (nfc.ts:127 and :137). A wallet slower than the card's 10 s wallet time limit (a
  // contended counter lock, a slow fsync) makes the card answer 6F00 while the payment goes on; the reader
  // SELECTs again and its GET TOKEN is paid too: two counters and two amounts spent in one presentation.
  it('money: a second GET TOKEN while the first payment is still in flight (after a 6F00 wallet timeout) is declined, 6985 (it was paid too)', async () => {
    const { dir, now } = await nfcWorld('card');
    const reader = loadReader(join(dir, 'reader'));
    const request = (amount: number) => createRequest(reader, { amount, currency: 344, time: Number(now) }).bytes;
    let release!: () => void;
    slow.gate = new Promise<void>((r) => (release = r));
    const vpcd = await fakeVpcd();
    try {
      const run = runCli(nfcCommands, 'nfc card', ['--wallet', join(dir, 'wallet'), '--port', String(vpcd.port), '--timeout', '40', '--now', now, '--json']);
      const peer = await vpcd.card;
      expect(parseResponse(await peer.transmit(SELECT)).sw).toBe(0x9000);
      const first = parseResponse(await peer.transmit(getToken(request(100_00)))); // ~10 s: the wallet time limit
      expect(first.sw).toBe(0x6f00);
      expect(parseResponse(await peer.transmit(SELECT)).sw).toBe(0x9000);
      const second = peer.transmit(getToken(request(100_00)));
      release(); // the wallet gets its lock: the first payment completes, then the second
      const r2 = parseResponse(await second);
      peer.control(0x00);
      const res = await run;
      const out = JSON.parse(res.out) as { payments?: number };
      expect({ secondSw: r2.sw.toString(16), payments: out.payments }).toEqual({ secondSw: '6985', payments: 1 });
    } finally {
      slow.gate = undefined;
      vpcd.close();
    }
  }, 40_000);
});

describe('NFC: offpay nfc read, a card left on the antenna (spec/nfc.md §5 item 7)', () => {
  // §5 item 7: a reader "MUST wait for the card to leave before starting the next transaction with the same card";
  // the fix's threat: "a gate or till that runs one transaction after another charged a phone left lying on the
  // antenna once a run". `nfc read` now waits --removal-wait seconds, then only prints a warning and exits 0
  // (nfc.ts:265): a gate loop that runs it again charges the phone still lying there, once every removal-wait.
  it('a phone that stays past --removal-wait: the run says cardRemoved false and warns, so that a loop does not start the next run (§5 item 7)', async () => {
    const { dir, now } = await nfcWorld('gate');
    const wallet = loadWallet(join(dir, 'wallet'));
    const issuerKeys = loadIssuerKeys(join(dir, 'issuer'));
    const phone = new CardApplication({ getToken: (req) => wallet.pay(req, { time: Number(now), issuerKeys }), receipt: async () => undefined });
    pcscMock.open = async () => {
      const card: PcscCard = {
        readerName: 'fake reader',
        atr: Uint8Array.of(0x3b, 0x80, 0x80, 0x01, 0x01),
        protocol: 2,
        link: memoryLink(phone),
        close: async () => undefined,
        // as pcsc.ts does when the card stays: closed, then nfc.card_still_present
        waitForRemoval: async (ms?: number) => {
          throw new OffpayError('nfc.card_still_present', `the card was not removed within ${ms} ms`);
        },
      };
      return card;
    };
    const gate = () =>
      runCli(nfcCommands, 'nfc read', ['--reader', join(dir, 'reader'), '--issuer', join(dir, 'issuer'), '--amount', '12.50', '--currency', 'HKD', '--timeout', '2', '--removal-wait', '1', '--now', now, '--json']);
    const first = await gate();
    expect(first.code).toBe(0);
    const out = JSON.parse(first.out) as { accepted: boolean; link: { cardRemoved?: boolean } };
    expect(out.accepted).toBe(true);
    expect(out.link.cardRemoved).toBe(false);
    const human = await runCli(nfcCommands, 'nfc read', ['--reader', join(dir, 'reader'), '--issuer', join(dir, 'issuer'), '--amount', '12.50', '--currency', 'HKD', '--timeout', '2', '--removal-wait', '1', '--now', now]);
    expect(human.out).toMatch(/WARNING: the card is still on the reader after 1 s/);
  });
});
