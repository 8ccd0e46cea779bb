/**
 * The per-wallet anti-replay window, in the manner of the IPsec sequence window (RFC 4303 §3.4.3) and its
 * bitmap form (RFC 6479): the highest counter accepted (`high`) and a bitmap of the last W counters.
 *
 *   bit i of the bitmap  <=>  counter (high - i) was accepted          (bit 0 is `high` itself)
 *
 * For a counter c from a wallet:
 *   - no state yet, or c > high          -> new (the window slides up by c - high)
 *   - high - c >= W                       -> stale  (below the window: cannot tell, so refuse)
 *   - bit (high - c) set                  -> replayed
 *   - otherwise                           -> new (out of order inside the window)
 *
 * The bitmap is stored as W/8 bytes, big-endian (the last byte holds bits 0..7). W is a multiple of 8 in
 * 8..4096. The window state is pure data; the reader commits it with the journal entry.
 *
 * A stored window keeps the size it was created with: a reconfigured W applies to wallets first seen after
 * the change. (Reading a stored 128-bit map as a 256-bit one would make counters 128..255 below `high` look
 * unused, and resetting the map on a size change forgot every accepted counter but `high`: either let a
 * cloned token through, issue 11 finding 14. The bits a wider window would need were never recorded, so
 * they cannot be made up.)
 */
import { OffpayError } from '../../base/errors.js';

/**
 * The anti-replay window of one wallet at one reader (spec/reader.md §3): the highest counter accepted and a
 * bitmap of the W counters at and below it.
 */
export interface WindowState {
  /** Highest counter accepted from this wallet. */
  high: number;
  /** W/8 bytes, big-endian bitmap. */
  bitmap: Uint8Array;
}

/**
 * Where a counter falls: `new` (never seen, inside or above the window), `replayed` (already accepted), `stale`
 * (below the window: refused, as it can no longer be told from a replay).
 */
export type WindowCheck = 'new' | 'replayed' | 'stale';

/** Default anti-replay window size W, counters (spec/reader.md §3). */
export const DEFAULT_WINDOW = 128;

/**
 * Check a window size W: an integer multiple of 8 in 8..4096, returned unchanged.
 * @throws OffpayError `reader.bad_config` otherwise.
 */
export function validateWindowSize(w: number): number {
  if (!Number.isInteger(w) || w < 8 || w > 4096 || w % 8 !== 0) {
    throw new OffpayError('reader.bad_config', `window size ${w} must be a multiple of 8 in 8..4096`);
  }
  return w;
}

function getBit(bitmap: Uint8Array, i: number): boolean {
  const byte = bitmap[bitmap.length - 1 - (i >> 3)]!;
  return ((byte >> (i & 7)) & 1) === 1;
}

function setBit(bitmap: Uint8Array, i: number): void {
  const at = bitmap.length - 1 - (i >> 3);
  bitmap[at] = bitmap[at]! | (1 << (i & 7));
}

/** Shift the bitmap towards higher bit numbers by n (older counters move away from bit 0). */
function shift(bitmap: Uint8Array, n: number): Uint8Array {
  const w = bitmap.length * 8;
  const out = new Uint8Array(bitmap.length);
  if (n >= w) return out;
  for (let i = w - 1 - n; i >= 0; i--) if (getBit(bitmap, i)) setBit(out, i + n);
  return out;
}

/** The size W of a stored window (its own, whatever the reader is configured with now). */
export function windowSizeOf(state: WindowState): number {
  return state.bitmap.length * 8;
}

/** `w` is the configured size, used only for a wallet with no stored window (where it does not matter). */
export function checkWindow(state: WindowState | undefined, counter: number, w: number): WindowCheck {
  if (!state || counter > state.high) return 'new';
  if (state.bitmap.length > 0) w = windowSizeOf(state);
  const offset = state.high - counter;
  if (offset >= w) return 'stale';
  return getBit(state.bitmap, offset) ? 'replayed' : 'new';
}

/** The state after accepting `counter` (call only when checkWindow said 'new'). */
export function advanceWindow(state: WindowState | undefined, counter: number, w: number): WindowState {
  if (!state || state.bitmap.length === 0) {
    // First counter from this wallet: a window of the configured size.
    const bitmap = new Uint8Array(w / 8);
    setBit(bitmap, 0);
    return { high: counter, bitmap };
  }
  // A stored window keeps its own size (see above).
  if (counter > state.high) {
    const bitmap = shift(state.bitmap, counter - state.high);
    setBit(bitmap, 0);
    return { high: counter, bitmap };
  }
  const bitmap = state.bitmap.slice();
  setBit(bitmap, state.high - counter);
  return { high: state.high, bitmap };
}
