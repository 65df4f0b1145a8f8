// The ACME layer: obtain/renew Let's Encrypt (or any RFC 8555 CA) certificates over HTTP-01.
export { ACME_CHALLENGE_PATH, LocalChallengeStore, assertValidToken, type ChallengeStore } from './challenge-store.js';
export {
  certificateStatus,
  dnsNamesFromSan,
  isDue,
  keyMatchesCertificate,
  normalizeDomains,
  parseCertificate,
  renewalDueAt,
  sameNames,
  splitPemChain,
  type CertificateInfo,
  type CertificateStatus,
} from './certificate.js';
export { LETS_ENCRYPT_DIRECTORIES, accountDirName, accountFilePath, resolveDirectoryUrl, validateDirectoryUrl, type DirectoryChoice } from './directory.js';
export {
  AcmeError,
  AcmeRateLimitError,
  AcmeServerError,
  AuthorizationFailedError,
  PreflightError,
  RenewalLockedError,
  oneLine,
  type PreflightCheck,
} from './errors.js';
export type { FileOwner } from './fs-atomic.js';
export { configureAcmeCa, installAcmeHttpPolicy, parseRetryAfter, problemDetail } from './http-policy.js';
export { createP256KeyPem, decideRenewal, obtainOrRenew, type ObtainAction, type ObtainOptions, type ObtainResult, type RenewalDecision } from './obtain.js';
export { dnsResolver, parseConnectTo, resolverFor, runPreflight, type DomainResolver, type PreflightOptions, type PreflightReport, type ResolvedAddress } from './preflight.js';
export { renewCommand, runRenew, type RenewFlags, type RenewIo } from './renew-command.js';
export {
  LOCK_FILE,
  LocalAcmeStateStore,
  RENEWAL_STATE_FILE,
  TLS_FILE_NAMES,
  parseAccount,
  parseRenewalState,
  serializeAccount,
  serializeRenewalState,
  type AccountRecord,
  type AcmeStateStore,
  type CertificateFiles,
  type LocalAcmeStateStoreOptions,
  type RenewalResult,
  type RenewalState,
} from './state-store.js';
export {
  SLOT_CYCLE,
  formatRenewalSlot,
  parseRenewalSlot,
  renewalSchedule,
  slotAllowsOrder,
  timerCalendar,
  type RenewalSchedule,
  type RenewalSlot,
} from './schedule.js';
