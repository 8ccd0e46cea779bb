/**
 * PC/SC driver for the reader session: waits for a card on a PC/SC reader (pcsc-lite via the optional native
 * addon `@pokusew/pcsclite`), connects, and provides a `CardLink`. Node only; the addon is loaded lazily, so
 * importing offpay/nfc never needs it.
 *
 * Traps handled (research note §2.5): every CardReader and the PCSCLite object are closed on `close()`, or
 * the process never exits; the benign "Command cancelled" error fired on close is swallowed; a transmit that
 * resolves with fewer than 2 bytes is "card lost" (vpcd does this when the card vanishes), and so are
 * pcsc-lite's removed/reset/unavailable errors. And one more, found here: the addon's constructor retries
 * SCardEstablishContext in a busy loop on the main thread while pcscd is not running, which freezes the
 * whole process (timers included); so on Linux the pcscd socket is probed first (`nfc.pcsc_error`).
 */
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { OffpayError } from '../../base/errors.js';
import type { CardLink } from './session.js';

/**
 * The few parts of @pokusew/pcsclite used here, typed locally: the package is an optional dependency (it
 * needs libpcsclite-dev to build), so neither the build nor the shipped .d.ts files may depend on its types.
 */
interface PcscStatus {
  state: number;
  atr?: Buffer;
}
interface CardReader {
  name: string;
  SCARD_STATE_PRESENT: number;
  SCARD_STATE_MUTE: number;
  SCARD_SHARE_SHARED: number;
  SCARD_RESET_CARD: number;
  SCARD_LEAVE_CARD: number;
  connect(o: { share_mode?: number }, cb: (err: unknown, protocol: number) => void): void;
  disconnect(d: number, cb: (err: unknown) => void): void;
  transmit(data: Buffer, resLen: number, protocol: number, cb: (err: unknown, response: Buffer) => void): void;
  on(ev: 'error', l: (e: unknown) => void): CardReader;
  on(ev: 'status', l: (status: PcscStatus) => void): CardReader;
  close(): void;
}
interface PcscLite {
  on(ev: 'error', l: (e: unknown) => void): PcscLite;
  on(ev: 'reader', l: (reader: CardReader) => void): PcscLite;
  close(): void;
  readers?: Record<string, CardReader>;
}
type Pcsclite = () => PcscLite;

/** The npm package of the native PC/SC addon (an optional dependency of offpay). */
export const PCSC_ADDON = '@pokusew/pcsclite';

/** What to install when the addon is missing: the pcsc-lite headers, then the addon itself. */
export const PCSC_INSTALL_HINT =
  'install the pcsc-lite headers (Debian/Ubuntu: `apt-get install libpcsclite-dev`; Fedora: `dnf install pcsc-lite-devel`), ' +
  `then \`npm install ${PCSC_ADDON}\` (or \`npm rebuild ${PCSC_ADDON}\` if it is installed but did not build)`;

let loaded: Promise<Pcsclite> | undefined;

/**
 * Load the native addon; `nfc.pcsc_unavailable`, naming what to install, if it is not installed or did not
 * build. Loaded through createRequire (the addon is CommonJS) so that nothing resolves it before first use.
 */
export function loadPcsclite(): Promise<Pcsclite> {
  loaded ??= new Promise<Pcsclite>((resolve) => {
    const m = createRequire(import.meta.url)(PCSC_ADDON) as Pcsclite | { default: Pcsclite };
    resolve(typeof m === 'function' ? m : m.default);
  }).catch((e: unknown) => {
    loaded = undefined;
    throw new OffpayError(
      'nfc.pcsc_unavailable',
      `the PC/SC addon ${PCSC_ADDON} is not available (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); ${PCSC_INSTALL_HINT}`,
    );
  });
  return loaded;
}

/** pcsc-lite's client socket: PCSCLITE_CSOCK_NAME or the default /run/pcscd/pcscd.comm. */
export function pcscdSocketPath(): string {
  return process.env.PCSCLITE_CSOCK_NAME ?? '/run/pcscd/pcscd.comm';
}

/**
 * On Linux (pcsc-lite), make sure something accepts connections on pcscd's socket before the addon is
 * touched (see the module comment). Elsewhere the PC/SC service is part of the OS and is not probed.
 */
export async function checkPcscService(timeoutMs = 2000): Promise<void> {
  if (process.platform !== 'linux') return;
  const path = pcscdSocketPath();
  await new Promise<void>((resolve, reject) => {
    const s = connect({ path });
    const t = setTimeout(() => {
      s.destroy();
      reject(new OffpayError('nfc.pcsc_error', `pcscd does not answer on ${path}`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve();
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      s.destroy();
      reject(new OffpayError('nfc.pcsc_error', `pcscd is not running (${e.code ?? e.message} on ${path}); start it, e.g. \`pcscd --foreground\``));
    });
  });
}

/** Options for opening a card on a PC/SC reader (Node, pcsc-lite via the optional addon `@pokusew/pcsclite`). */
export interface PcscOptions {
  /** Use only readers whose name contains this string (e.g. 'Virtual PCD 00 00'). Default: any reader. */
  reader?: string;
  /** How long to wait for a card, in ms. Default 30000. */
  timeoutMs?: number;
  /** Largest response accepted from the reader, bytes (default 65538: extended Le + SW). */
  maxResponse?: number;
}

/** A card connected over PC/SC ({@link openPcscCard}): reader name, ATR, protocol, an APDU link, and close. */
export interface PcscCard {
  /** The PC/SC reader name. */
  readerName: string;
  /** The card's Answer To Reset. */
  atr: Uint8Array;
  /** The PC/SC protocol in use (T=0 or T=1 constant). */
  protocol: number;
  /** The APDU link to the card. */
  link: CardLink;
  /**
   * Disconnect (SCARD_LEAVE_CARD) and close every reader and the PC/SC context. Safe to call twice. Not a
   * reset: resetting a card that already left makes pcscd 1.9.9 + vpcd 0.8 report the slot empty while
   * vpcd silently takes the next card, which then never shows up. The card application resets on SELECT.
   */
  close(): Promise<void>;
  /**
   * Wait until the card leaves the reader (a reader must not start the next transaction before), or until
   * pcsc-lite reports another insertion/removal event (the card was swapped between two polls), then
   * close like `close()`. Throws `nfc.card_still_present` after `timeoutMs` (default 10000), closed anyway.
   */
  waitForRemoval(timeoutMs?: number): Promise<void>;
}

/**
 * pcsc-lite errors that mean the card left the field: SCARD_W_REMOVED_CARD 0x80100069, SCARD_W_RESET_CARD
 * 0x80100068, SCARD_E_READER_UNAVAILABLE 0x80100017, SCARD_E_NO_SMARTCARD 0x8010000C and
 * SCARD_E_NOT_TRANSACTED 0x80100016 (what pcscd reports when the driver loses the card mid-transmit).
 */
const LOST = /removed|reset|unavailable|not connected|0x80100069|0x80100068|0x80100017|0x8010000C|0x80100016/i;

/**
 * Wait for a card on a PC/SC reader, connect to it (shared mode, T=0 or T=1) and return a link. Throws
 * `nfc.pcsc_unavailable` (addon missing), `nfc.pcsc_error` (no pcscd) or `nfc.no_card` (timeout).
 */
export async function openPcscCard(options: PcscOptions = {}): Promise<PcscCard> {
  const pcsclite = await loadPcsclite();
  await checkPcscService();
  const timeoutMs = options.timeoutMs ?? 30_000;
  const resLen = options.maxResponse ?? 65538;
  const pcsc = pcsclite();
  let closed = false;
  const shutdown = (): void => {
    if (closed) return;
    closed = true;
    for (const r of Object.values(pcsc.readers ?? {})) {
      try {
        r.close();
      } catch {
        /* already closed */
      }
    }
    try {
      pcsc.close();
    } catch {
      /* already closed */
    }
  };

  return new Promise<PcscCard>((resolve, reject) => {
    let settled = false;
    let lastError = '';
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      shutdown();
      reject(
        new OffpayError('nfc.no_card', `no card presented within ${timeoutMs} ms${lastError ? ` (last PC/SC error: ${lastError})` : ''}`, {
          timeoutMs,
        }),
      );
    }, timeoutMs);
    const fail = (e: OffpayError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      shutdown();
      reject(e);
    };
    pcsc.on('error', (e: unknown) => {
      const msg = e instanceof Error ? e.message : String(e);
      if (closed) return; // "Command cancelled" on close is expected
      lastError = msg;
      if (/no service|not running|0x8010001D|service not available/i.test(msg))
        fail(new OffpayError('nfc.pcsc_error', `PC/SC: ${msg} (is pcscd running?)`));
    });
    pcsc.on('reader', (reader) => {
      reader.on('error', (e: unknown) => {
        if (!closed) lastError = e instanceof Error ? e.message : String(e);
      });
      if (options.reader && !reader.name.includes(options.reader)) return;
      let connecting = false;
      let latest: PcscStatus | undefined;
      let retry: ReturnType<typeof setTimeout> | undefined;
      const attempt = (): void => {
        const status = latest;
        if (settled || closed || connecting || !status) return;
        const present = (status.state & reader.SCARD_STATE_PRESENT) !== 0 && (status.state & reader.SCARD_STATE_MUTE) === 0;
        if (!present) return;
        connecting = true;
        reader.connect({ share_mode: reader.SCARD_SHARE_SHARED }, (err, protocol) => {
          connecting = false;
          if (err) {
            // e.g. the card left again, or pcscd is still powering it: the state may not change again, so
            // try once more shortly instead of waiting for a status event that might never come
            lastError = err instanceof Error ? err.message : String(err);
            if (retry !== undefined) clearTimeout(retry);
            retry = setTimeout(attempt, 250);
            return;
          }
          if (settled) {
            reader.disconnect(reader.SCARD_LEAVE_CARD, () => undefined);
            return;
          }
          settled = true;
          clearTimeout(timer);
          let gone = false;
          const link: CardLink = {
            transmit: (apdu) =>
              new Promise<Uint8Array>((res, rej) => {
                if (closed || gone) return rej(new OffpayError('nfc.card_lost', 'the PC/SC connection is closed'));
                reader.transmit(Buffer.from(apdu), resLen, protocol, (e, response) => {
                  if (e) {
                    const m = e instanceof Error ? e.message : String(e);
                    if (LOST.test(m)) {
                      gone = true;
                      rej(new OffpayError('nfc.card_lost', `PC/SC: ${m}`));
                    } else rej(new OffpayError('nfc.link_error', `PC/SC transmit: ${m}`));
                    return;
                  }
                  if (response.length < 2) gone = true;
                  res(new Uint8Array(response));
                });
              }),
          };
          const close = (): Promise<void> =>
            new Promise<void>((done) => {
              if (closed) return done();
              reader.disconnect(reader.SCARD_LEAVE_CARD, () => {
                shutdown();
                done();
              });
            });
          // pcsc-lite counts insertions and removals in the high 16 bits of the reader state. A card that
          // leaves and another that arrives between two status reports show up only as a new count.
          const events = status.state >>> 16;
          let present = true;
          const waiters: Array<() => void> = [];
          reader.on('status', (st) => {
            present = (st.state & reader.SCARD_STATE_PRESENT) !== 0 && st.state >>> 16 === events;
            if (!present) for (const w of waiters.splice(0)) w();
          });
          resolve({
            readerName: reader.name,
            atr: new Uint8Array(status.atr ?? []),
            protocol,
            link,
            close,
            waitForRemoval: async (ms = 10_000) => {
              if (present && !closed) {
                let t: ReturnType<typeof setTimeout> | undefined;
                const left = await Promise.race([
                  new Promise<boolean>((r) => waiters.push(() => r(true))),
                  new Promise<boolean>((r) => (t = setTimeout(() => r(false), ms))),
                ]);
                clearTimeout(t);
                if (!left) {
                  await close();
                  throw new OffpayError('nfc.card_still_present', `the card was not removed within ${ms} ms`);
                }
              }
              await close();
            },
          });
        });
      };
      reader.on('status', (status) => {
        latest = status;
        attempt();
      });
    });
  });
}

/** List PC/SC reader names seen within `waitMs` (default 1000 ms). */
export async function listPcscReaders(waitMs = 1000): Promise<string[]> {
  const pcsclite = await loadPcsclite();
  await checkPcscService();
  const pcsc = pcsclite();
  const names: string[] = [];
  let err: string | undefined;
  pcsc.on('error', (e: unknown) => {
    err ??= e instanceof Error ? e.message : String(e);
  });
  pcsc.on('reader', (reader) => {
    reader.on('error', () => undefined);
    names.push(reader.name);
  });
  await new Promise((r) => setTimeout(r, waitMs));
  for (const r of Object.values(pcsc.readers ?? {})) r.close();
  pcsc.close();
  if (names.length === 0 && err) throw new OffpayError('nfc.pcsc_error', `PC/SC: ${err} (is pcscd running?)`);
  return names;
}
