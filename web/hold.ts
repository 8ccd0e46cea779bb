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
