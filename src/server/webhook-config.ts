/**
 * One webhook configuration per clearing house (spec/clearing-api.md §9.5). Every node of a PostgreSQL house
 * delivers from the one shared outbox, so every node must send to the same URL and sign with the same secret;
 * a SQLite clearing has one node, whose outbox file outlives a restart. The clearing store remembers the
 * configuration the house serves with, in its `meta` table under the key `webhooks`:
 *
 *   {"v":1,"url":"<the URL, normalised>","secretSha256":"<64 hex digits>"}   webhooks on
 *   {"v":1,"url":null}                                                       webhooks off
 *
 * `secretSha256` is SHA-256 of the ASCII string `offpay-webhook-secret-v1:` + the secret's 64 hex digits: the
 * secret is 32 random bytes, so its fingerprint names it without revealing it. The secret itself is never
 * stored in the clearing database, printed or logged.
 *
 * At start (`clearing serve`) a node claims the configuration: the first node to serve a database records its
 * own (an atomic insert if absent, ClearingStore.claimMeta); every later node must match it, or it refuses to
 * start with `api.webhook_mismatch` naming what differs (the URL, the secret's fingerprint, webhooks on or
 * off). The operator changes it on purpose with `--webhook-reconfigure`, which replaces the record with the
 * starting node's configuration. A running node whose configuration is no longer the record (another node
 * was started with `--webhook-reconfigure`) stops delivering (`isCurrent`) but keeps queueing.
 */
import { createHash } from 'node:crypto';
import { OffpayError } from '../../base/errors.js';
import type { ClearingStore } from '../clearing/store.js';
import { checkWebhookUrl } from './webhooks.js';

/** The `meta` key of the house's webhook configuration. */
export const WEBHOOK_CONFIG_KEY = 'webhooks';
/** Hex digits of a secret fingerprint shown in messages (of the 64 stored). */
const SHOWN_HEX = 16;

/** A node's webhook configuration as the store records it: `null` is "no webhooks". */
export type WebhookConfig = {
  /** The URL, normalised (`new URL(url).href`). */
  url: string;
  /** SHA-256 of `offpay-webhook-secret-v1:` + the secret, 64 lower-case hex digits. */
  secretSha256: string;
} | null;

/** The one-way fingerprint of a webhook secret (64 lower-case hex digits). */
export function webhookSecretFingerprint(secret: string): string {
  return createHash('sha256').update(`offpay-webhook-secret-v1:${secret}`, 'utf8').digest('hex');
}

/** The configuration of a node started with this URL and secret, or without webhooks (`undefined`). */
export function webhookConfigOf(url: string | undefined, secret: string | undefined): WebhookConfig {
  if (url === undefined || secret === undefined) return null;
  return { url: checkWebhookUrl(url).href, secretSha256: webhookSecretFingerprint(secret) };
}

/** The bytes stored under WEBHOOK_CONFIG_KEY. */
export function encodeWebhookConfig(c: WebhookConfig): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(c ? { v: 1, url: c.url, secretSha256: c.secretSha256 } : { v: 1, url: null }));
}

/** Read the stored record; throws `clearing.store_unusable` for a record this offpay did not write. */
export function decodeWebhookConfig(v: Uint8Array | number, where: string): WebhookConfig {
  const bad = () => new OffpayError('clearing.store_unusable', `the webhook configuration held by ${where} (meta '${WEBHOOK_CONFIG_KEY}') is not one this offpay writes`);
  if (typeof v === 'number' || v.length > 4096) throw bad();
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(v));
  } catch {
    throw bad();
  }
  const r = o as { v?: unknown; url?: unknown; secretSha256?: unknown };
  if (typeof o !== 'object' || o === null || r.v !== 1) throw bad();
  if (r.url === null && Object.keys(r).length === 2) return null;
  if (typeof r.url !== 'string' || typeof r.secretSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.secretSha256) || Object.keys(r).length !== 3) throw bad();
  return { url: r.url, secretSha256: r.secretSha256 };
}

/** Whether two configurations are the same. */
export function sameWebhookConfig(a: WebhookConfig, b: WebhookConfig): boolean {
  return a === null || b === null ? a === b : a.url === b.url && a.secretSha256 === b.secretSha256;
}

/** A configuration for people: the URL and the start of the secret's fingerprint, never the secret. */
export function describeWebhookConfig(c: WebhookConfig): string {
  return c ? `webhooks to ${c.url}, secret fingerprint ${c.secretSha256.slice(0, SHOWN_HEX)}` : 'no webhooks';
}

/** What differs between this node's configuration and the house's (for the refusal's message). */
export function webhookConfigDifference(mine: WebhookConfig, held: WebhookConfig): string {
  if (mine === null) return `this node has no --webhook-url, but the house sends webhooks to ${held!.url} (the events of the batches and refunds this node answered would never be queued)`;
  if (held === null) return `this node has --webhook-url ${mine.url}, but the house serves without webhooks`;
  const d: string[] = [];
  if (mine.url !== held.url) d.push(`the URL: ${mine.url} here, ${held.url} held`);
  if (mine.secretSha256 !== held.secretSha256) d.push(`the secret: fingerprint ${mine.secretSha256.slice(0, SHOWN_HEX)} here, ${held.secretSha256.slice(0, SHOWN_HEX)} held`);
  return `this node's webhook configuration differs in ${d.join(', and in ')}`;
}

/** What {@link claimWebhookConfig} found. */
export interface WebhookConfigClaim {
  /** `recorded`: none was held and this node's is now; `matched`: the held one is this node's; `replaced`: --webhook-reconfigure. */
  outcome: 'recorded' | 'matched' | 'replaced';
  /** The configuration held before (`replaced`, when one was held). */
  previous?: WebhookConfig;
}

/**
 * At a node's start: record this node's configuration when the store holds none, accept it when it is the one
 * held, or throw `api.webhook_mismatch` naming what differs (`hint` ends the message: how this node's secret was
 * obtained, e.g. a file created just now). With `replace` (the operator's --webhook-reconfigure) the record
 * becomes this node's whatever was held.
 */
export async function claimWebhookConfig(store: ClearingStore, mine: WebhookConfig, o: { replace?: boolean; hint?: string } = {}): Promise<WebhookConfigClaim> {
  const bytes = encodeWebhookConfig(mine);
  if (o.replace) {
    const before = await store.getMeta(WEBHOOK_CONFIG_KEY);
    let previous: WebhookConfig | undefined;
    try {
      previous = before === undefined ? undefined : decodeWebhookConfig(before, store.location);
    } catch {
      previous = undefined; // a record this offpay cannot read is replaced all the same (that is the order)
    }
    await store.setMeta(WEBHOOK_CONFIG_KEY, bytes);
    return { outcome: 'replaced', ...(previous !== undefined ? { previous } : {}) };
  }
  const claim = await store.claimMeta(WEBHOOK_CONFIG_KEY, bytes);
  if (claim.inserted) return { outcome: 'recorded' };
  const held = decodeWebhookConfig(claim.value, store.location);
  if (sameWebhookConfig(mine, held)) return { outcome: 'matched' };
  throw new OffpayError(
    'api.webhook_mismatch',
    `${webhookConfigDifference(mine, held)}. Every node of a clearing house must send to the same URL with the same secret (${store.location} holds ${describeWebhookConfig(held)}). ` +
      `Start this node with the house's --webhook-url and --webhook-secret-file, or change the house's on purpose: stop every node and start one with --webhook-reconfigure` +
      (o.hint ? ` (${o.hint})` : ''),
  );
}

/**
 * For a running node's worker: true while the store's record is still `mine` (false once another node was
 * started with --webhook-reconfigure, or the record is gone).
 */
export async function isCurrentWebhookConfig(store: ClearingStore, mine: WebhookConfig): Promise<boolean> {
  const held = await store.getMeta(WEBHOOK_CONFIG_KEY);
  return held !== undefined && sameWebhookConfig(mine, decodeWebhookConfig(held, store.location));
}
