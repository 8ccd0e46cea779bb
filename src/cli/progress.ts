/**
 * Progress on a terminal for work that can take more than a couple of seconds (ingesting many batches,
 * decoding a long recording, generating vectors).
 *
 * Rules: drawn on standard error only, only when it is a terminal and the command is not in --json mode;
 * nothing is drawn until `delayMs` (default 1 s, or the environment's OFFPAY_PROGRESS_DELAY_MS) has passed, so quick runs print nothing extra; redrawn at
 * most every `intervalMs` (default 100 ms) on one line (carriage return, then erase to the end of the
 * line); `done()` erases the line, leaving the terminal as it was.
 */
export interface ProgressSink {
  write(s: string): void;
  /** Whether the sink is a terminal. */
  isTTY: boolean;
}

export interface ProgressOptions {
  /** Total units of work (batches, seconds of audio, vector files); 0 or undefined when unknown. */
  total?: number;
  /** Unit name shown after the counts, e.g. 'batches', 's of audio'. */
  unit?: string;
  enabled?: boolean;
  delayMs?: number;
  intervalMs?: number;
  /** Clock in milliseconds (tests pass a fake one). */
  now?: () => number;
}

export interface Progress {
  /** Set the units done so far (and optionally what is being worked on). */
  update(done: number, detail?: string): void;
  /** Erase the progress line. Safe to call more than once. */
  done(): void;
  /** Erase the line for now (before other output); the next update draws it again. */
  clear(): void;
  /** Whether anything will ever be drawn. */
  readonly active: boolean;
}

const ERASE = '\r\x1b[K';

/** 1 s, or OFFPAY_PROGRESS_DELAY_MS (tests and demos set 0 to see the line at once). */
function defaultDelayMs(): number {
  const v = typeof process === 'undefined' ? undefined : process.env.OFFPAY_PROGRESS_DELAY_MS;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : 1000;
}

export function createProgress(sink: ProgressSink, label: string, o: ProgressOptions = {}): Progress {
  const active = (o.enabled ?? true) && sink.isTTY;
  const now = o.now ?? (() => Date.now());
  const start = now();
  const delay = o.delayMs ?? defaultDelayMs();
  const interval = o.intervalMs ?? 100;
  let lastDraw = -Infinity;
  let drawn = false;
  let finished = false;
  return {
    active,
    update(done, detail) {
      if (!active || finished) return;
      const t = now();
      if (t - start < delay || t - lastDraw < interval) return;
      lastDraw = t;
      drawn = true;
      sink.write(ERASE + progressLine(label, done, o.total, o.unit, (t - start) / 1000, detail));
    },
    clear() {
      if (!drawn) return;
      drawn = false;
      lastDraw = -Infinity;
      sink.write(ERASE);
    },
    done() {
      if (finished) return;
      finished = true;
      if (drawn) sink.write(ERASE);
    },
  };
}

/** One progress line: 'label 3/10 batches (30%), 4 s, about 9 s left: detail'. */
export function progressLine(label: string, done: number, total: number | undefined, unit: string | undefined, elapsedS: number, detail?: string): string {
  const u = unit ? ` ${unit}` : '';
  let s = `${label} ${fmt(done)}${total ? `/${fmt(total)}` : ''}${u}`;
  if (total) s += ` (${Math.min(100, Math.floor((done / total) * 100))}%)`;
  s += `, ${Math.round(elapsedS)} s`;
  if (total && done > 0 && done < total) s += `, about ${Math.ceil((elapsedS / done) * (total - done))} s left`;
  if (detail) s += `: ${detail}`;
  return s;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
