/**
 * Node-only entry points of the NFC transport: serve the card application to a PC/SC stack through vpcd,
 * and read a token from the first card presented to a PC/SC reader. These are what `offpay nfc card` and
 * `offpay nfc read` use; codecs/nfc/index.ts exposes them through lazy wrappers so importing offpay/nfc
 * in a browser never loads node:net or the native PC/SC addon.
 */
import { CardApplication, type CardOptions, type CardWallet } from './card.js';
import { openPcscCard, type PcscOptions } from './pcsc.js';
import { transact, type Exchange, type TransactResult, type VerifyOutcome, type ReaderOptions } from './session.js';
import { startVirtualCard, type VirtualCard, type VirtualCardOptions } from './vpcd.js';

export interface ServeCardOptions extends CardOptions, VirtualCardOptions {}

export interface ServedCard extends VirtualCard {
  card: CardApplication;
}

/** Run the card application for `wallet` as a virtual card on vpcd (pcscd must be running with vsmartcard-vpcd). */
export async function serveCardOverVpcd(wallet: CardWallet, options: ServeCardOptions = {}): Promise<ServedCard> {
  const card = new CardApplication(wallet, options);
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

export interface ReadOverPcscOptions extends ReaderOptions, PcscOptions {
  /** After the exchange, wait (up to this many ms) for the card to leave before closing. Default 0: close at once. */
  waitForRemovalMs?: number;
}

export interface PcscReadResult<T> extends TransactResult<T> {
  readerName: string;
  atr: Uint8Array;
}

/**
 * Wait for a card on a PC/SC reader, run SELECT / GET TOKEN / verify / PUT RECEIPT, and close every PC/SC
 * handle whatever happens. Throws `nfc.*` when no token was obtained.
 */
export async function readTokenOverPcsc<T>(
  request: Uint8Array,
  verify: (token: Uint8Array) => Promise<VerifyOutcome<T>>,
  options: ReadOverPcscOptions = {},
): Promise<PcscReadResult<T>> {
  const pc = await openPcscCard(options);
  try {
    const r = await transact(pc.link, { ...options, request, verify: (token) => verify(token) });
    if (options.waitForRemovalMs) await pc.waitForRemoval(options.waitForRemovalMs).catch(() => undefined);
    return { ...r, readerName: pc.readerName, atr: pc.atr };
  } finally {
    await pc.close();
  }
}

export type { Exchange };
