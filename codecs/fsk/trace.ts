/**
 * Receiver trace tap (test and tuning instrumentation, not part of the public API: index.ts does not export
 * it). When a tap is set, the receiver reports the exact values behind its events: every confirmed chirp
 * peak, every frame sync it tries (coarse and refined positions, clock offsets and scores) and the outcome
 * of every decode attempt. The golden receiver test (test/fsk/golden.test.ts) records them, so that a
 * refactoring can show that every score stays bit-identical, not only the rounded diagnostics.
 */
export type TraceRecord =
  | { t: 'peak'; family: string; up: boolean; pos: number; score: number }
  | {
    t: 'sync'; profile: string; rows: number; eps0: number; pre: number; post: number;
    preamblePos: number; preambleScore: number; postamblePos: number; postambleScore: number; eps: number; start: number;
  }
  | { t: 'attempt'; metric: number; result: string; byteErrors: number; corrected: number; erasures: number; toneSnrDb: number }
  | { t: 'decode'; profile: string; rows: number; result: string; byteErrors: number; corrected: number; erasures: number; toneSnrDb: number };

let tap: ((r: TraceRecord) => void) | null = null;

/** Set (or clear with null) the process-wide trace tap. */
export function setReceiverTrace(fn: ((r: TraceRecord) => void) | null): void {
  tap = fn;
}

/** Report a record to the tap, if any (one branch when no tap is set). */
export function trace(r: TraceRecord): void {
  if (tap) tap(r);
}

/** True when a tap is set (callers skip building records otherwise). */
export function tracing(): boolean {
  return tap !== null;
}
