/**
 * Reader profiles as data (one row per profile, as in ggwave's protocol table): the parameters that differ
 * between a vending machine and a transit gate. Override any field through `ReaderOptions.profile`.
 *
 * Sources (shared/research/offline-security.md): 300 ms decision budget (Octopus 0.3 s, S20; EMV 500 ms,
 * S9); 24 h blocklist freshness (daily upload, S14); 15 min void window (issue 4); short one-way validity
 * (payment codes refresh every minute, S39; Alipay sound codes 5 min, S38).
 */
import type { ReaderProfileName } from '../messages.js';

export type StalePolicy = 'refuse' | 'reduce';

export interface ProfileParams {
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
}

export const PROFILES: Record<ReaderProfileName, ProfileParams> = {
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
  },
};

/** Per-currency limits (minor units). Absent fields mean no limit of that kind. */
export interface CurrencyLimits {
  minAmount?: number;
  maxAmount?: number;
  /** Per wallet, per reader day (UTC), at this reader. */
  dailyTotal?: number;
  /** Largest payment accepted while the blocklist is stale, under the 'reduce' policy (default 0). */
  staleMaxAmount?: number;
}
