/**
 * offpay/nfc/node — the Node-only half of the NFC transport: serve the card application to a PC/SC stack
 * through vpcd, and read a token from the first card presented to a PC/SC reader. These are what
 * `offpay nfc card` and `offpay nfc read` use. offpay/nfc (browser-safe) never reaches this module, so a
 * bundle for a browser never sees node:net or the native PC/SC addon (an optional dependency, loaded on
 * first use: `nfc.pcsc_unavailable` names what to install when it is missing).
 */
import { OffpayError } from '../../base/errors.js';
import { pickOptions } from '../../base/options.js';
import { CARD_OPTIONS_SCHEMA, CardApplication, type CardOptions, type CardWallet } from './card.js';
import { openPcscCard, type PcscCard, type PcscOptions } from './pcsc.js';
import { READ_NDEF_TAG_OPTIONS_SCHEMA, readNdefTag, type ReadNdefTagOptions } from './t4t.js';
import { SESSION_OPTIONS_SCHEMA, transact, type Exchange, type TransactResult, type VerifyOutcome, type ReaderSessionOptions } from './session.js';
import { startVirtualCard, type VirtualCard, type VirtualCardOptions } from './vpcd.js';

/** Options of {@link serveCardOverVpcd}: the card application's and the virtual card's. */
export interface ServeCardOptions extends CardOptions, VirtualCardOptions {}

/** A card application served as a virtual card on vpcd ({@link serveCardOverVpcd}). */
export interface ServedCard extends VirtualCard {
  /** The card application answering the reader. */
  card: CardApplication;
}

/** Run the card application for `wallet` as a virtual card on vpcd (pcscd must be running with vsmartcard-vpcd). */
export async function serveCardOverVpcd(wallet: CardWallet, options: ServeCardOptions = {}): Promise<ServedCard> {
  const card = new CardApplication(wallet, pickOptions(options, CARD_OPTIONS_SCHEMA));
  const vc = await startVirtualCard(card, options);
  return {
    card,
    get commands() {
      return vc.commands;
    },
    get inserted() {
      return vc.inserted;
    },
    removed: vc.removed,
    close: () => vc.close(),
  };
}

/** Options of {@link readTokenOverPcsc}: NFC reader options, PC/SC options, and an optional wait for removal. */
export interface ReadOverPcscOptions extends ReaderSessionOptions, PcscOptions {
  /** After the exchange, wait (up to this many ms) for the card to leave before closing. Default 0: close at once. */
  waitForRemovalMs?: number;
}

/**
 * The result of {@link readTokenOverPcsc}: the exchange result plus the PC/SC reader name and the card's ATR.
 * @typeParam T - the verdict type.
 */
export interface PcscReadResult<T> extends TransactResult<T> {
  /** The PC/SC reader the card was on. */
  readerName: string;
  /** The card's Answer To Reset. */
  atr: Uint8Array;
  /**
   * With `waitForRemovalMs`: whether the card left the field within it (false: still present, so the caller MUST
   * NOT start another transaction with it, spec/nfc.md §5 item 7). Absent without `waitForRemovalMs`.
   */
  cardRemoved?: boolean;
}

/**
 * Wait for a card on a PC/SC reader, connect, run `use` on it, and close every PC/SC handle whatever happens.
 *
 * A card that is gone before it answered the first APDU is not an error: pcscd still reports the previous
 * card for up to one polling period after it left (~0.4 s with vpcd), and a new session may connect to that
 * departed card. Nothing was exchanged, so `use` runs again with whatever card is there, within the same
 * `timeoutMs`. `use` signals this case by throwing `nfc.card_lost` with `detail.roundTrip === 1`.
 */
export async function withPcscCard<R>(options: PcscOptions, use: (pc: PcscCard) => Promise<R>): Promise<R> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (true) {
    const pc = await openPcscCard({ ...options, timeoutMs: Math.max(1, deadline - Date.now()) });
    try {
      return await use(pc);
    } catch (e) {
      const stale = e instanceof OffpayError && e.code === 'nfc.card_lost' && e.detail?.roundTrip === 1 && Date.now() < deadline;
      if (!stale) throw e;
      // let pcscd catch up: the slot empties, or (vpcd swaps a dead card for a queued one without a removal
      // event) nothing changes and the next attempt reaches the new card
      await pc.waitForRemoval(Math.min(500, Math.max(1, deadline - Date.now()))).catch(() => undefined);
    } finally {
      await pc.close();
    }
  }
}

/**
 * Wait for a card on a PC/SC reader, run SELECT / GET TOKEN / verify / PUT RECEIPT, and close every PC/SC
 * handle whatever happens (see `withPcscCard` for a card that left before SELECT). Throws `nfc.*` when no
 * token was obtained; a card lost after SELECT is `nfc.card_lost`.
 */
export async function readTokenOverPcsc<T>(
  request: Uint8Array,
  verify: (token: Uint8Array) => Promise<VerifyOutcome<T>>,
  options: ReadOverPcscOptions = {},
): Promise<PcscReadResult<T>> {
  return withPcscCard(options, async (pc) => {
    const r = await transact(pc.link, { ...pickOptions(options, SESSION_OPTIONS_SCHEMA), request, verify: (token) => verify(token) });
    let cardRemoved: boolean | undefined;
    if (options.waitForRemovalMs) {
      cardRemoved = await pc.waitForRemoval(options.waitForRemovalMs).then(
        () => true,
        (e: unknown) => {
          if (e instanceof OffpayError && e.code === 'nfc.card_still_present') return false;
          throw e;
        },
      );
    }
    return { ...r, readerName: pc.readerName, atr: pc.atr, ...(cardRemoved === undefined ? {} : { cardRemoved }) };
  });
}

/** Read the NDEF message of a Type 4 Tag (or a phone emulating one) on a PC/SC reader. */
export async function readNdefTagOverPcsc(options: PcscOptions & ReadNdefTagOptions = {}): Promise<{
  /** The tag's NDEF message bytes. */
  message: Uint8Array;
  /** The PC/SC reader the tag was read on. */
  readerName: string;
}> {
  return withPcscCard(options, async (pc) => ({ message: await readNdefTag(pc.link, pickOptions(options, READ_NDEF_TAG_OPTIONS_SCHEMA)), readerName: pc.readerName }));
}

export type { Exchange };
export {
  openPcscCard,
  listPcscReaders,
  checkPcscService,
  pcscdSocketPath,
  loadPcsclite,
  PCSC_ADDON,
  PCSC_INSTALL_HINT,
  type PcscCard,
  type PcscOptions,
} from './pcsc.js';
export { startVirtualCard, VPCD_DEFAULT_ATR, VPCD_PORT, type VirtualCard, type VirtualCardOptions } from './vpcd.js';
