/**
 * Reader profiles as data (one row per profile, as in ggwave's protocol table): the parameters that differ
 * between a vending machine and a transit gate. Override any field through `ReaderOptions.profile`.
 *
 * Sources (shared/research/offline-security.md): 300 ms decision budget (Octopus 0.3 s, S20; EMV 500 ms,
 * S9); 24 h blocklist freshness (daily upload, S14); 15 min void window (issue 4); short one-way validity
 * (payment codes refresh every minute, S39; Alipay sound codes 5 min, S38).
 */
import type { ReaderProfileName } from '../messages.js';

/**
 * What a reader does while its blocklist is stale (spec/reader.md §5, §8): `refuse` every token
 * (`blocklist_stale`), or `reduce`: accept up to the currency's `staleMaxAmount` (`stale_limit` above it).
 */
export type StalePolicy = 'refuse' | 'reduce';
/**
 * What a transit gate does with a tap-out whose tap-in it never saw: `charge` (record it; clearing charges the
 * maximum fare if no tap-in ever arrives) or `refuse` (`no_tap_in`). spec/reader.md §7.2.
 */
export type TapOutWithoutTapIn = 'charge' | 'refuse';

/**
 * One row of {@link READER_PROFILES}: the reader parameters that differ between a vending machine and a transit gate.
 * Units are in each field's name or comment (seconds, milliseconds). Normative: spec/reader.md §8.
 */
export interface ReaderProfileParams {
  /** The profile name, as in the reader certificate (`vending` or `transit`). */
  name: ReaderProfileName;
  /** Every token must answer a payment request (with its challenge and exact price) that the reader issued. */
  requireRequest: boolean;
  /** Oldest acceptable token or request time for a token answering a request, seconds. */
  maxAgeSeconds: number;
  /** Validity window of a one-way token (no request, e.g. an operator-bound QR code), seconds. */
  oneWayMaxAgeSeconds: number;
  /** Clock skew allowed for tokens dated in the future, seconds. */
  maxFutureSeconds: number;
  /** Longest trip from tap-in to tap-out, seconds (the tap-out checks the tap-in token against it). */
  maxTripSeconds: number;
  /** Age of the blocklist (reader time minus the list's issuedAt) after which it is stale, seconds. */
  blocklistMaxAgeSeconds: number;
  /** With a stale (or no) blocklist: refuse every token, or accept up to the currency's staleMaxAmount. */
  whenBlocklistStale: StalePolicy;
  /** How long after acceptance a pending sale may be voided, seconds. */
  voidWindowSeconds: number;
  /** Target decision time including decoding, milliseconds (a benchmark goal, not enforced). */
  decisionBudgetMs: number;
  /**
   * How long after acceptance the same token bytes may be presented again and RESUME a pending sale (the
   * machine failed before it dispensed), seconds. Later, the token is refused (`already_accepted`).
   */
  resumeWindowSeconds: number;
  /** Accept a tap-out fare of 0 (a free exit). Default false: a 0 fare is a gate misconfiguration. */
  allowZeroFare: boolean;
  /**
   * A tap-out whose tap-in this gate never saw (usually taken at another gate): 'charge' records it, the token's
   * amount counted in this gate's allowance total (spec/reader.md §7.2 step 3e), and clearing charges the token's
   * maximum fare if no tap-in for it ever arrives; 'refuse' refuses it (`no_tap_in`).
   */
  tapOutWithoutTapIn: TapOutWithoutTapIn;
  /**
   * Take a tap-out only as an exit signed afresh by the wallet (message 11, spec/protocol.md §4.6), never as the
   * tap-in token shown again (`exit_required`): a recording of a rider's tap-in then no longer leaves by another
   * gate (spec/reader.md §7.3 point 1). Default false in this version, so that wallets without exits still leave;
   * an exit is taken either way.
   */
  requireExit: boolean;
  /** Oldest acceptable exit time (the wallet's clock when it signed the exit), seconds before the reader clock. */
  exitMaxAgeSeconds: number;
}

/**
 * The reader profiles as data, one row per {@link ReaderProfileName} (spec/reader.md §8 is normative and a test
 * keeps it in step with this table). A reader takes the row its certificate names, overridden field by field by
 * `ReaderOptions.profile` (validated: `reader.bad_config` names a bad field).
 *
 * Not to be confused with the FSK profile table `FSK_PROFILES` of `offpay/fsk` (modem parameters).
 *
 * @example
 * ```ts
 * import { READER_PROFILES } from 'offpay/reader';
 * READER_PROFILES.vending.voidWindowSeconds;       // 900: a pending sale may be voided for 15 min
 * READER_PROFILES.transit.whenBlocklistStale;      // 'reduce': accept small fares with a stale blocklist
 * ```
 */
export const READER_PROFILES: Record<ReaderProfileName, ReaderProfileParams> = {
  vending: {
    name: 'vending',
    requireRequest: true,
    maxAgeSeconds: 300,
    oneWayMaxAgeSeconds: 300,
    maxFutureSeconds: 60,
    maxTripSeconds: 0,
    blocklistMaxAgeSeconds: 86_400,
    whenBlocklistStale: 'refuse',
    voidWindowSeconds: 900,
    decisionBudgetMs: 300,
    // A vending machine that failed to dispense restarts and reads the same token again within a minute;
    // the customer is still at the machine. Beyond that a replayed clip or QR code must not vend again.
    resumeWindowSeconds: 60,
    allowZeroFare: false,
    tapOutWithoutTapIn: 'charge',
    requireExit: false,
    exitMaxAgeSeconds: 300,
  },
  transit: {
    name: 'transit',
    requireRequest: false,
    maxAgeSeconds: 300,
    oneWayMaxAgeSeconds: 120,
    maxFutureSeconds: 60,
    maxTripSeconds: 4 * 3600,
    blocklistMaxAgeSeconds: 86_400,
    whenBlocklistStale: 'reduce',
    voidWindowSeconds: 900,
    decisionBudgetMs: 300,
    // A gate re-read (the passenger tapped twice, the barrier jammed) happens within seconds; Octopus and
    // Calypso re-tap recovery complete within the same passage. 30 s keeps one tap-in from opening the gate
    // for the next passenger holding a copy.
    resumeWindowSeconds: 30,
    allowZeroFare: false,
    tapOutWithoutTapIn: 'charge',
    requireExit: false,
    // An exit is dated by the wallet's clock, as its tap-in was: a wallet whose clock is behind by up to
    // oneWayMaxAgeSeconds taps in, so it must be able to leave with an exit that old (checkExitWindow refuses a
    // shorter one). maxFutureSeconds covers a clock ahead. A recorded exit opens another gate only within it.
    exitMaxAgeSeconds: 120,
  },
};

/** @deprecated Renamed {@link READER_PROFILES} in 0.2.0 (one name for one thing); this alias goes in the next release. */
export const PROFILES: Record<ReaderProfileName, ReaderProfileParams> = READER_PROFILES;
/** @deprecated Renamed {@link ReaderProfileParams} in 0.2.0; this alias goes in the next release. */
export type ProfileParams = ReaderProfileParams;

/** Per-currency limits (minor units). Absent fields mean no limit of that kind. */
export interface CurrencyLimits {
  /** Smallest amount accepted (`below_minimum` under it). */
  minAmount?: number;
  /** Largest amount accepted (`above_maximum` over it). */
  maxAmount?: number;
  /** Per wallet, per reader day (UTC), at this reader. */
  dailyTotal?: number;
  /** Largest payment accepted while the blocklist is stale, under the 'reduce' policy (default 0). */
  staleMaxAmount?: number;
}
