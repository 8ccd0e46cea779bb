/**
 * "Did you mean ...?" for mistyped options and commands.
 *
 * Distance is the optimal-string-alignment edit distance (insertions, deletions, substitutions and swaps of
 * two adjacent characters each cost 1), so `--isuer` -> `--issuer` (1) and `--ammount` -> `--amount` (1).
 * A candidate is suggested when its distance is at most max(1, floor(length / 3)) of the longer word, or
 * when the typed word is a prefix of exactly one candidate; the closest wins, ties go to the first listed.
 */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  // d[i][j]: distance between a[0..i) and b[0..j); three rows suffice for the swap rule.
  let prev2: number[] = [];
  let prev: number[] = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur: number[] = [i];
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur.push(v);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[n]!;
}

/** The closest candidate to `word`, or undefined when none is close enough. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    const limit = Math.max(1, Math.floor(Math.max(word.length, c.length) / 3));
    if (d <= limit && d < bestD) {
      best = c;
      bestD = d;
    }
  }
  if (best !== undefined) return best;
  const prefixed = word.length >= 2 ? candidates.filter((c) => c.startsWith(word)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** '; did you mean X?' or ''. */
export function didYouMean(word: string, candidates: readonly string[], show: (c: string) => string = (c) => c): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : `; did you mean ${show(c)}?`;
}
