/** Operator keys on the operator's machine: the key store and how commands unlock a key to sign. */
export {
  DEFAULT_KEY_NAME,
  checkKeyName,
  createOperatorKey,
  describeOperatorKey,
  isKeyEncrypted,
  keyPath,
  isKeyFilePath,
  keysDir,
  listOperatorKeys,
  loadOperatorKey,
  parseKeyDocument,
  type KeyDocument,
  type KeyInfo,
  type KeyLocation,
  type OperatorKey,
} from './key-store.js';
export { PASSPHRASE_ENV, passphraseFromEnv, promptHidden, unlockOperatorKey, type HiddenInput, type KeyFlags } from './passphrase.js';
export { SCRYPT_PARAMS, openPem, sealPem, type OpenFailure, type SealedPem } from './key-crypto.js';
