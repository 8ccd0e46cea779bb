/**
 * The camera's hold rule (spec/playground.md §2.1): a code is acted on when it comes into view, not on every
 * frame it stays in view. `fresh(key, t)` is true iff no frame decoded the same bytes in the `holdMs`
 * milliseconds before t (t - t' <= holdMs for an earlier decode t' means "still in view"). So:
 *   - a code held in front of the camera is acted on once, however long it stays;
 *   - a code taken away and shown again after more than holdMs is acted on again (a second presentation: a
 *     replayed token is judged again and its refusal shown);
 *   - two codes in view together are each acted on once, not once per alternation.
 * Memory: one entry per distinct code decoded within the last holdMs (older entries are pruned on each call),
 * so at most frames-per-second x holdMs / 1000 entries.
 */
export class HoldFilter {
  readonly #holdMs: number;
  readonly #seen = new Map<string, number>();

  constructor(holdMs: number) {
    if (!(holdMs >= 0 && Number.isFinite(holdMs))) throw new RangeError(`holdMs must be a finite number >= 0, got ${holdMs}`);
    this.#holdMs = holdMs;
  }

  /** Record a decode of `key` at time `t` (ms, non-decreasing); true when it is a new presentation. */
  fresh(key: string, t: number): boolean {
    for (const [k, at] of this.#seen) if (t - at > this.#holdMs) this.#seen.delete(k);
    const isNew = !this.#seen.has(key);
    this.#seen.set(key, t);
    return isNew;
  }

  /** Distinct codes currently remembered. */
  get size(): number {
    return this.#seen.size;
  }
}

/** What {@link CodeWindow.push} says of the view. */
/** `since`: when the code became the only one kept (a new value means a new presentation of it). */
export type ViewState = { state: 'none' } | { state: 'ambiguous'; codes: number } | { state: 'settling'; key: string } | { state: 'settled'; key: string; since: number };

/**
 * The offpay codes of the kind being read that the camera decoded within the last `holdMs` (spec/qr.md §8 rule 1 on
 * the live path, spec/playground.md §2.1), for the wallet page, which reads requests. One image with two different
 * codes is `qr.ambiguous`; a live camera sees them in turns (focus, a reflection, a pan), so the rule is kept over
 * the window: while two different codes were decoded within `holdMs`, the view is ambiguous, and a code is acted on
 * only once it has been the only one for `settleMs` (counted from the moment it became the only one: a sticker
 * that comes into view before the machine's own code is not taken at once). Memory: one entry per distinct code of
 * the window.
 */
export class CodeWindow {
  readonly #holdMs: number;
  readonly #settleMs: number;
  readonly #seen = new Map<string, number>();
  /** The code kept alone, and since when (undefined while none or several are kept). */
  #alone: { key: string; since: number } | undefined;

  constructor(holdMs: number, settleMs: number) {
    if (!(holdMs >= 0 && Number.isFinite(holdMs))) throw new RangeError(`holdMs must be a finite number >= 0, got ${holdMs}`);
    if (!(settleMs >= 0 && Number.isFinite(settleMs))) throw new RangeError(`settleMs must be a finite number >= 0, got ${settleMs}`);
    this.#holdMs = holdMs;
    this.#settleMs = settleMs;
  }

  /** The codes (keys) one frame decoded, at time `t` (ms, non-decreasing): the state of the view. */
  push(keys: readonly string[], t: number): ViewState {
    for (const [k, last] of this.#seen) {
      if (t - last <= this.#holdMs) continue;
      this.#seen.delete(k);
      if (this.#alone?.key === k) this.#alone = undefined; // gone: back later, it is a new presentation
    }
    for (const k of keys) this.#seen.set(k, t);
    if (this.#seen.size !== 1) {
      this.#alone = undefined;
      return this.#seen.size === 0 ? { state: 'none' } : { state: 'ambiguous', codes: this.#seen.size };
    }
    const key = this.#seen.keys().next().value as string;
    if (this.#alone?.key !== key) this.#alone = { key, since: t };
    // Only a code this frame decoded is acted on, and only once it has been alone for settleMs.
    return keys.includes(key) && t - this.#alone.since >= this.#settleMs ? { state: 'settled', key, since: this.#alone.since } : { state: 'settling', key };
  }
}
