/**
 * The profile table (spec/fsk.md §3). A profile is one row: adding a profile is adding a row, not a branch.
 * Every number a compatible modem needs is here; all times are seconds and all frequencies are Hz at the
 * transmitter's clock.
 *
 * Tone k of a profile (k = 0 .. groups*tonesPerGroup-1) has frequency baseHz + k*spacingHz; group g owns
 * the adjacent tones g*M .. g*M+M-1 (M = tonesPerGroup). Each data symbol sends one tone per group.
 */
/** The frame format version carried in every FSK frame header (spec/fsk.md §4). */
export const FRAME_VERSION = 1;

/**
 * The name of an FSK profile, a row of {@link FSK_PROFILES}. Not to be confused with a reader profile
 * (`ReaderProfileName` of `offpay`: `vending` or `transit`, the reader's rules).
 */
export type FskProfileName = 'fast' | 'robust' | 'ultrasonic' | 'turbo';

/**
 * How a profile's symbols carry bits: 'mfsk' (default), one tone per group per symbol (spec/fsk.md §3-6); or
 * 'ofdm-qpsk' (the turbo profile, spec/fsk.md §14): every tone k is an OFDM carrier sounding in every
 * symbol, each carrier carries one Gray-coded QPSK dibit per symbol (a quarter-turn multiple from its phase in
 * the reference symbol), and group g's carriers 4g..4g+3 carry one byte per symbol, so a row is one symbol.
 */
export type Modulation = 'mfsk' | 'ofdm-qpsk';

/** One row of {@link FSK_PROFILES}: every number a compatible modem needs (spec/fsk.md §3). */
export interface FskProfile {
  /** The profile's name (`fast`, `robust`, `ultrasonic`). */
  readonly name: FskProfileName;
  /** 4-bit profile id carried in the frame header. */
  readonly id: number;
  /** Tones per group (M), a power of two dividing 256: 4 or 16 (2 or 4 bits per symbol). */
  readonly tonesPerGroup: number;
  /** Number of tone groups sounding at once (G). */
  readonly groups: number;
  /** Frequency of tone 0, Hz. */
  readonly baseHz: number;
  /** Distance between adjacent tones, Hz (1 / window, so the tones are orthogonal). */
  readonly spacingHz: number;
  /** Guard at the start of each symbol (absorbs timing error and early reflections). */
  readonly guard: number;
  /** Detection window; spacingHz = 1 / window so the tones are orthogonal over it. */
  readonly window: number;
  /** Raised-cosine ramp length of every tone burst and of the chirps. */
  readonly ramp: number;
  /** Chirp: preamble sweeps chirpLowHz -> chirpHighHz, postamble chirpHighHz -> chirpLowHz. */
  readonly chirpLowHz: number;
  /** Upper end of the chirp sweep, Hz. */
  readonly chirpHighHz: number;
  /** Length of each chirp (preamble, postamble), seconds. */
  readonly chirpDuration: number;
  /** Silence between preamble and first symbol, and between last symbol and postamble. */
  readonly gap: number;
  /** Reed-Solomon parity bytes per codeword. */
  readonly parity: number;
  /** Modulation (default 'mfsk'). */
  readonly modulation?: Modulation;
  /** Symbols before the data that carry no data (the QPSK phase reference); default 0. */
  readonly referenceSymbols?: number;
}

const audibleChirp = { chirpLowHz: 1500, chirpHighHz: 10200, chirpDuration: 0.04, gap: 0.01 } as const;

/**
 * The FSK profile table (spec/fsk.md §3 is normative): the modem parameters of each profile, one frozen row
 * per {@link FskProfileName}, in profile-id order. Not to be confused with the reader profiles
 * (`READER_PROFILES` of `offpay/reader`: the rules of a vending machine or a transit gate).
 */
export const FSK_PROFILES: readonly FskProfile[] = Object.freeze([
  Object.freeze({
    name: 'fast', id: 1, tonesPerGroup: 4, groups: 22, baseHz: 1500, spacingHz: 100,
    guard: 0.0025, window: 0.01, ramp: 0.001, ...audibleChirp, parity: 48,
  }),
  Object.freeze({
    name: 'robust', id: 2, tonesPerGroup: 16, groups: 5, baseHz: 1500, spacingHz: 100,
    guard: 0.0025, window: 0.01, ramp: 0.001, ...audibleChirp, parity: 48,
  }),
  Object.freeze({
    name: 'ultrasonic', id: 3, tonesPerGroup: 4, groups: 7, baseHz: 17000, spacingHz: 100,
    guard: 0.0025, window: 0.01, ramp: 0.001, chirpLowHz: 17000, chirpHighHz: 19700, chirpDuration: 0.04, gap: 0.01,
    parity: 48,
  }),
  // turbo (spec/fsk.md §14): fast's band, grid and chirps (so the receiver detects it with fast's templates),
  // 88 OFDM carriers x QPSK, 2.5 ms cyclic prefix, one reference symbol; 200 B in 0.2625 s.
  Object.freeze({
    name: 'turbo', id: 4, tonesPerGroup: 4, groups: 22, baseHz: 1500, spacingHz: 100,
    guard: 0.0025, window: 0.01, ramp: 0.001, ...audibleChirp, parity: 48, modulation: 'ofdm-qpsk', referenceSymbols: 1,
  }),
] satisfies FskProfile[]);

/** The names of {@link FSK_PROFILES}, in table order. */
export const FSK_PROFILE_NAMES: readonly FskProfileName[] = FSK_PROFILES.map((p) => p.name);

/** @deprecated Renamed {@link FSK_PROFILES} in 0.2.0 (one name for one thing); this alias goes in the next release. */
export const PROFILES: readonly FskProfile[] = FSK_PROFILES;
/** @deprecated Renamed {@link FSK_PROFILE_NAMES} in 0.2.0; this alias goes in the next release. */
export const PROFILE_NAMES: readonly FskProfileName[] = FSK_PROFILE_NAMES;
/** @deprecated Renamed {@link FskProfile} in 0.2.0; this alias goes in the next release. */
export type Profile = FskProfile;
/** @deprecated Renamed {@link FskProfileName} in 0.2.0; this alias goes in the next release. */
export type ProfileName = FskProfileName;

/** The FSK profile named `name`, or undefined if there is none. */
export function getProfile(name: string): FskProfile | undefined {
  return FSK_PROFILES.find((p) => p.name === name);
}

/** The FSK profile whose 4-bit header id is `id`, or undefined if there is none. */
export function profileById(id: number): FskProfile | undefined {
  return FSK_PROFILES.find((p) => p.id === id);
}

/** Bits carried by one symbol of one group: log2(M) (MFSK) or 2 M (QPSK OFDM). */
export function bitsPerSymbol(p: FskProfile): number {
  // QPSK OFDM: 2 bits on each of the group's carriers.
  if (p.modulation === 'ofdm-qpsk') return 2 * p.tonesPerGroup;
  return Math.log2(p.tonesPerGroup);
}

/** Symbols per byte in a group: 8 / log2(M). */
export function symbolsPerByte(p: FskProfile): number {
  return 8 / bitsPerSymbol(p);
}

/** Length of one symbol (guard + window), seconds. */
export function symbolPeriod(p: FskProfile): number {
  return p.guard + p.window;
}

/** Frequency of tone k of profile p, Hz: baseHz + k * spacingHz. */
export function toneHz(p: FskProfile, k: number): number {
  return p.baseHz + k * p.spacingHz;
}

/** Number of tones of profile p: groups * tonesPerGroup. */
export function toneCount(p: FskProfile): number {
  return p.groups * p.tonesPerGroup;
}

/** Symbols sent before the first data symbol that carry no data (0 for MFSK profiles). */
export function referenceSymbols(p: Profile): number {
  return p.referenceSymbols ?? 0;
}
