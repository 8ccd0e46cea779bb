import {
  Issuer,
  MemoryCounterStore,
  Wallet,
  dayOf,
  publicKeyOf,
  seededSecretKey,
} from '../../src/index.js';

const NOW = 1_795_000_000; // 2026-11-18
/** A small seeded world: an issuer, a HKD wallet (max 500.00 a payment, 1,000.00 offline) and vending reader 4201. */
export function world(seed = 'rt') {
  const issuer = Issuer.fromSecret(7, 1, seededSecretKey(seed, 'issuer'), NOW - 86400 * 365, NOW + 86400 * 365);
  const wsk = seededSecretKey(seed, 'wallet');
  const cert = issuer.issueWalletCert(
    { walletPublicKey: publicKeyOf(wsk), expiryDay: dayOf(NOW) + 30, maxPerPayment: 50_000, offlineAllowance: 100_000, currency: 344 },
    NOW,
  );
  const wallet = new Wallet({ secretKey: wsk, cert, counter: new MemoryCounterStore(), clock: () => NOW });
  const rsk = seededSecretKey(seed, 'reader');
  const readerCert = issuer.issueReaderCert(
    { readerId: 4201, readerPublicKey: publicKeyOf(rsk), operatorId: 90, profile: 'vending', notBefore: NOW - 86400, notAfter: NOW + 86400 * 365 },
    NOW,
  );
  return { issuer, wallet, reader: { secretKey: rsk, cert: readerCert } };
}

