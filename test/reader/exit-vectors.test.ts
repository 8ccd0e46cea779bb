/**
 * What the exit-required scenario pins for a port (spec/protocol.md §4.7 "Vectors: ... both ends of the time
 * window"; spec/reader.md §15).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeExit, looksLikeExit } from '../../src/exit.js';
import { fromHex } from '../../src/index.js';

const file = JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/scenarios/exit-required.json'), 'utf8')) as {
  config: { profile: { maxFutureSeconds: number; exitMaxAgeSeconds: number } };
  steps: { action: string; now?: number; token?: string; expect?: { accepted?: boolean; reason?: string } }[];
};
const { maxFutureSeconds, exitMaxAgeSeconds } = file.config.profile;
/** Each decodable exit step: its exit time less the gate clock, and whether it was taken. */
const offsets = file.steps
  .filter((s) => s.action === 'tap_out' && s.token && looksLikeExit(fromHex(s.token)))
  .flatMap((s) => {
    try {
      return [{ d: decodeExit(fromHex(s.token!)).time - s.now!, accepted: s.expect?.accepted === true, reason: s.expect?.reason }];
    } catch {
      return [];
    }
  });

describe('exit-required scenario: the time window', () => {
  it('pins the future end: an exit dated exactly now + maxFutureSeconds is taken', () => {
    expect(offsets).toContainEqual(expect.objectContaining({ d: maxFutureSeconds, accepted: true }));
  });

  it('tells exitMaxAgeSeconds from maxFutureSeconds (a port that swaps the two bounds fails a vector)', () => {
    expect(exitMaxAgeSeconds).not.toBe(maxFutureSeconds);
  });
});

describe('exit-required scenario: the order of the exit\'s own checks', () => {
  it('pins signature before time: an exit with another key\'s signature and a time outside the window is bad_exit_signature', () => {
    const outside = (d: number) => d > maxFutureSeconds || d < -exitMaxAgeSeconds;
    expect(offsets.some((o) => o.reason === 'bad_exit_signature' && outside(o.d))).toBe(true);
  });
});
