/**
 * offpay — signed offline payment tokens. The protocol core: messages, crypto, issuer, wallet and stateless
 * verification. Browser-safe (no Node-only imports); Node file helpers are in src/node/.
 */
export * from './errors.js';
export * from './cbor.js';
export * from './crypto.js';
export * from './currency.js';
export * from './messages.js';
export * from './reasons.js';
export * from './issuer.js';
export * from './wallet.js';
export * from './request.js';
export * from './verify.js';
export * from './weakkeys.js';
