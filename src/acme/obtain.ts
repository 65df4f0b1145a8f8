// obtainOrRenew: the whole certificate life cycle for one set of names, one ACME directory.
//   1. decide from the installed files + renewal state whether to order at all (a valid certificate
//      for the same names, from the same directory, not due, is never re-ordered);
//   2. preflight (DNS + the HTTP challenge path) before any ACME request;
//   3. account: created once per directory, stored, reused;
//   4. one order, HTTP-01 through the ChallengeStore; a failed authorization ends the run (no loop);
//   5. install both files atomically, record the result, call onRenewed (the caller reloads nginx).
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import acme from 'acme-client';
import type { ChallengeStore } from './challenge-store.js';
import { keyMatchesCertificate, normalizeDomains, parseCertificate, renewalDueAt, sameNames, type CertificateInfo } from './certificate.js';
import { validateDirectoryUrl } from './directory.js';
import { AcmeError, AcmeRateLimitError, AuthorizationFailedError, oneLine } from './errors.js';
import { configureAcmeCa, installAcmeHttpPolicy } from './http-policy.js';
import { slotAllowsOrder, type RenewalSlot } from './schedule.js';
import { runPreflight, type PreflightOptions, type PreflightReport } from './preflight.js';
import type { AccountRecord, AcmeStateStore, CertificateFiles, RenewalState } from './state-store.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export type ObtainAction = 'issued' | 'renewed' | 'not-due';

export interface ObtainResult {
  /** 'issued': first certificate from this directory; 'renewed': replaced one of ours; 'not-due': nothing ordered */
  action: ObtainAction;
  /** the installed full chain (leaf first) */
  certPem: string;
  serial: string;
  names: string[];
  issuer: string;
  notBefore: string;
  notAfter: string;
  dueAt: string;
  /** why a certificate was (or was not) ordered, for logs */
  reason: string;
  /** the ACME account used (only when something was ordered) */
  accountUrl?: string;
  preflight?: PreflightReport;
}

export interface ObtainOptions {
  directoryUrl: string;
  /** contact address of the ACME account (Let's Encrypt no longer sends expiry mail, but uses it for notices) */
  email?: string;
  domains: readonly string[];
  challengeStore: ChallengeStore;
  stateStore: AcmeStateStore;
  /** order even when the installed certificate is not due (also ignores a remembered Retry-After) */
  force?: boolean;
  /** preflight settings (domains and challengeStore come from above); false skips the preflight */
  preflight?: Omit<PreflightOptions, 'domains' | 'challengeStore' | 'log'> | false;
  /** CA certificate(s) to trust for the ACME server's own HTTPS, PEM (NODE_EXTRA_CA_CERTS works too) */
  caPem?: string;
  /** the current time, for the due decision and the recorded timestamps */
  now?: Date;
  log?: (line: string) => void;
  /**
   * Called after a new certificate is installed and recorded; reload nginx here. Its error is
   * rethrown, but the certificate stays installed and recorded as renewed (the next run will say
   * not-due), so a caller whose reload failed must retry the reload itself.
   */
  onRenewed?: (result: ObtainResult) => void | Promise<void>;
  /** this host's turn among several hosts that each order a certificate for the same name (schedule.ts) */
  slot?: RenewalSlot;
  /** polling of pending challenges/orders (acme-client backoff); defaults 10 attempts, 5 s .. 30 s */
  polling?: { attempts?: number; minMs?: number; maxMs?: number };
}

export interface RenewalDecision {
  order: boolean;
  reason: string;
  /** the installed certificate, when it could be parsed */
  installed?: CertificateInfo;
}

/** Whether to order, from what is installed and recorded. Pure. */
export function decideRenewal(input: {
  installed: CertificateFiles | undefined;
  state: RenewalState | undefined;
  domains: readonly string[];
  directoryUrl: string;
  now: Date;
  force?: boolean;
  /** this host's turn among several hosts ordering for the same name */
  slot?: RenewalSlot;
}): RenewalDecision {
  const { installed, state, domains, directoryUrl, now } = input;
  if (!installed) return { order: true, reason: 'no certificate is installed' };
  let info: CertificateInfo;
  try {
    info = parseCertificate(installed.certPem);
  } catch (e) {
    return { order: true, reason: `the installed certificate cannot be read (${(e as Error).message})` };
  }
  const at = (d: Date): string => d.toISOString();
  if (input.force) return { order: true, reason: 'renewal forced', installed: info };
  if (!sameNames(info.names, domains)) {
    return { order: true, reason: `the installed certificate is for ${info.names.join(', ') || '(no DNS names)'}, not ${domains.join(', ')}`, installed: info };
  }
  if (!keyMatchesCertificate(installed.certPem, installed.keyPem)) {
    return { order: true, reason: 'the installed private key does not match the installed certificate', installed: info };
  }
  if (info.selfSigned) return { order: true, reason: 'the installed certificate is self-signed', installed: info };
  if (state?.directoryUrl !== directoryUrl) {
    const from = state?.directoryUrl ? `was issued through ${state.directoryUrl}` : 'has no renewal record';
    return { order: true, reason: `the installed certificate ${from}, not ${directoryUrl}`, installed: info };
  }
  // a record of ours beside another certificate (a custom one installed since) does not make it ours
  if (state.serial !== undefined && normalizeSerial(state.serial) !== normalizeSerial(info.serial)) {
    return { order: true, reason: `the installed certificate (serial ${info.serial}) is not the one the renewal record names (${state.serial})`, installed: info };
  }
  if (now.getTime() >= info.notAfter.getTime()) return { order: true, reason: `the installed certificate expired on ${at(info.notAfter)}`, installed: info };
  // one host: due with a third of the lifetime left; several: each in its turn (schedule.ts)
  const turn = slotAllowsOrder(info, now, input.slot);
  if (turn.order) return { order: true, reason: turn.reason, installed: info };
  return { order: false, reason: `valid until ${at(info.notAfter)}, ${turn.reason}`, installed: info };
}

const normalizeSerial = (serial: string): string => serial.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+/, '');

function certFields(info: CertificateInfo | undefined): Pick<RenewalState, 'serial' | 'notBefore' | 'notAfter' | 'issuer' | 'names'> {
  if (!info) return {};
  return { serial: info.serial, notBefore: info.notBefore.toISOString(), notAfter: info.notAfter.toISOString(), issuer: info.issuer, names: info.names };
}

function resultFrom(action: ObtainAction, certPem: string, info: CertificateInfo, reason: string): ObtainResult {
  return {
    action,
    certPem,
    serial: info.serial,
    names: info.names,
    issuer: info.issuer,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    dueAt: renewalDueAt(info.notBefore, info.notAfter).toISOString(),
    reason,
  };
}

/** A new ECDSA P-256 private key, PKCS#8 PEM. */
export async function createP256KeyPem(): Promise<string> {
  const { privateKey } = await generateKeyPairAsync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return privateKey;
}

function clientOptions(directoryUrl: string, account: AccountRecord, polling: ObtainOptions['polling']): ConstructorParameters<typeof acme.Client>[0] {
  return {
    directoryUrl,
    accountKey: account.accountKeyPem,
    ...(account.accountUrl ? { accountUrl: account.accountUrl } : {}),
    backoffAttempts: polling?.attempts ?? 10,
    backoffMin: polling?.minMs ?? 5_000,
    backoffMax: polling?.maxMs ?? 30_000,
  };
}

/** The stored account for the directory, registering it (once) when there is none. */
async function accountClient(
  opts: ObtainOptions,
  directoryUrl: string,
  now: Date,
  log: (l: string) => void,
  reRegister = false,
): Promise<{ client: acme.Client; account: AccountRecord }> {
  let account = await opts.stateStore.readAccount(directoryUrl);
  if (account && reRegister) account = { ...account, accountUrl: undefined };
  if (!account) {
    // the key is saved before registering: if registration's answer is lost, the next run
    // registers the same key again and the CA returns the existing account
    account = { directoryUrl, email: opts.email, createdAt: now.toISOString(), accountKeyPem: await createP256KeyPem() };
    await opts.stateStore.writeAccount(account);
  }
  const client = new acme.Client(clientOptions(directoryUrl, account, opts.polling));
  const contact = opts.email ? [`mailto:${opts.email}`] : undefined;
  if (!account.accountUrl) {
    await client.createAccount({ termsOfServiceAgreed: true, ...(contact ? { contact } : {}) });
    account = { ...account, accountUrl: client.getAccountUrl(), email: opts.email };
    await opts.stateStore.writeAccount(account);
    log(`registered ACME account ${account.accountUrl}`);
  } else {
    log(`using ACME account ${account.accountUrl}`);
    if (contact && account.email !== opts.email) {
      await client.updateAccount({ contact });
      account = { ...account, email: opts.email };
      await opts.stateStore.writeAccount(account);
      log(`updated the account's contact to ${opts.email}`);
    }
  }
  return { client, account };
}

/** What a CA says when the stored account URL is unknown (deleted, deactivated, a reset test CA). */
const ACCOUNT_GONE = /accountDoesNotExist|account\b.*\b(not found|does not exist)/i;

async function orderCertificate(
  initialClient: acme.Client,
  reRegister: () => Promise<acme.Client>,
  domains: string[],
  challengeStore: ChallengeStore,
  log: (l: string) => void,
): Promise<{ certPem: string; keyPem: string; info: CertificateInfo }> {
  let client = initialClient;
  const keyPem = await createP256KeyPem();
  const [, csr] = await acme.crypto.createCsr({ ...(domains[0]!.length <= 64 ? { commonName: domains[0] } : {}), altNames: domains }, keyPem);
  const newOrder = { identifiers: domains.map((value) => ({ type: 'dns', value })) };
  let order: acme.Order;
  try {
    order = await client.createOrder(newOrder);
  } catch (e) {
    // no order was created: register the same key again (the CA returns or creates the account)
    if (e instanceof AcmeError || !ACCOUNT_GONE.test((e as Error).message)) throw e;
    log(`the CA does not know the stored account (${oneLine((e as Error).message)}): registering the account key again`);
    client = await reRegister();
    order = await client.createOrder(newOrder);
  }
  log(`created order ${order.url}`);
  const authorizations = await client.getAuthorizations(order);
  for (const authz of authorizations) {
    const domain = authz.identifier.value;
    if (authz.status === 'valid') {
      log(`${domain}: already authorized`);
      continue;
    }
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (!challenge) {
      throw new AcmeError(`the CA offers no http-01 challenge for ${domain} (offered: ${authz.challenges.map((c) => c.type).join(', ') || 'none'})`);
    }
    let completed = false;
    try {
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
      await challengeStore.put(challenge.token, keyAuthorization);
      log(`${domain}: challenge token in place, asking the CA to validate`);
      await client.completeChallenge(challenge);
      completed = true;
      await client.waitForValidStatus(challenge);
      log(`${domain}: validated`);
    } catch (e) {
      if (!completed) {
        // do not leave a pending authorization behind (they count against limits)
        await client.deactivateAuthorization(authz).catch(() => undefined);
      }
      if (e instanceof AcmeError) throw e;
      throw new AuthorizationFailedError(domain, oneLine((e as Error).message));
    } finally {
      await challengeStore.remove(challenge.token).catch((err: Error) => log(`${domain}: could not remove the challenge token: ${err.message}`));
    }
  }
  const finalized = await client.finalizeOrder(order, csr);
  const certPem = await client.getCertificate(finalized);
  const info = parseCertificate(certPem);
  if (!sameNames(info.names, domains)) throw new AcmeError(`the CA issued a certificate for ${info.names.join(', ')}, not ${domains.join(', ')}`);
  if (!keyMatchesCertificate(certPem, keyPem)) throw new AcmeError('the CA issued a certificate for another key');
  return { certPem, keyPem, info };
}

/**
 * Makes sure a valid certificate for `domains` from `directoryUrl` is installed: orders one when
 * there is none, it is due (a third of its lifetime left), or `force`; otherwise does nothing
 * (no ACME request). At most one order per call. The renewal state is written in every case
 * ('not-due', 'renewed' or 'failed'); failures are rethrown after being recorded.
 */
export async function obtainOrRenew(opts: ObtainOptions): Promise<ObtainResult> {
  const now = opts.now ?? new Date();
  const log = opts.log ?? (() => undefined);
  const directoryUrl = validateDirectoryUrl(opts.directoryUrl);
  const domains = normalizeDomains(opts.domains);
  const store = opts.stateStore;
  installAcmeHttpPolicy();
  configureAcmeCa(opts.caPem);

  const release = store.lock ? await store.lock() : undefined;
  try {
    let previous: RenewalState | undefined;
    try {
      previous = await store.readRenewalState();
    } catch (e) {
      log(`ignoring the unreadable renewal state: ${(e as Error).message}`);
    }
    const installed = await store.readCertificate();
    const decision = decideRenewal({ installed, state: previous, domains, directoryUrl, now, force: opts.force, slot: opts.slot });

    if (!decision.order) {
      const info = decision.installed!;
      await store.writeRenewalState({
        lastAttempt: now.toISOString(),
        lastResult: 'not-due',
        ...(previous?.lastRenewed ? { lastRenewed: previous.lastRenewed } : {}),
        directoryUrl,
        ...certFields(info),
      });
      log(`certificate for ${domains.join(', ')} is not due: ${decision.reason}`);
      return resultFrom('not-due', installed!.certPem, info, decision.reason);
    }

    log(`ordering a certificate for ${domains.join(', ')} from ${directoryUrl}: ${decision.reason}`);
    // was the installed certificate ours (from this directory)? then this is a renewal
    const installedIsOurs = !!installed && !!decision.installed && previous?.directoryUrl !== undefined && previous.serial === decision.installed.serial;
    let issued: { certPem: string; keyPem: string; info: CertificateInfo };
    let accountUrl: string | undefined;
    let preflight: PreflightReport | undefined;
    try {
      const limit = previous?.rateLimit;
      if (!opts.force && limit && limit.directoryUrl === directoryUrl && limit.retryAfter && now.getTime() < Date.parse(limit.retryAfter)) {
        throw new AcmeRateLimitError(limit.detail, new Date(limit.retryAfter), undefined, true);
      }
      if (opts.preflight !== false) {
        preflight = await runPreflight({ ...(opts.preflight ?? {}), domains, challengeStore: opts.challengeStore, log });
        log(`preflight passed for ${domains.join(', ')}`);
      }
      const { client, account } = await accountClient(opts, directoryUrl, now, log);
      accountUrl = account.accountUrl;
      const reRegister = async (): Promise<acme.Client> => {
        const again = await accountClient(opts, directoryUrl, now, log, true);
        accountUrl = again.account.accountUrl;
        return again.client;
      };
      issued = await orderCertificate(client, reRegister, domains, opts.challengeStore, log);
      await store.writeCertificate({ certPem: issued.certPem, keyPem: issued.keyPem });
    } catch (e) {
      const message = oneLine((e as Error).message ?? String(e));
      const failed: RenewalState = {
        lastAttempt: now.toISOString(),
        lastResult: 'failed',
        error: message,
        ...(previous?.lastRenewed ? { lastRenewed: previous.lastRenewed } : {}),
        ...(installedIsOurs && previous?.directoryUrl ? { directoryUrl: previous.directoryUrl } : {}),
        ...certFields(decision.installed),
      };
      if (e instanceof AcmeRateLimitError) {
        failed.rateLimit = { directoryUrl, detail: e.detail, ...(e.retryAfter ? { retryAfter: e.retryAfter.toISOString() } : {}) };
      }
      await store.writeRenewalState(failed).catch((we: Error) => log(`could not record the failure: ${we.message}`));
      throw e;
    }

    const action: ObtainAction = installedIsOurs && previous?.directoryUrl === directoryUrl ? 'renewed' : 'issued';
    await store.writeRenewalState({
      lastAttempt: now.toISOString(),
      lastResult: 'renewed',
      lastRenewed: now.toISOString(),
      directoryUrl,
      ...certFields(issued.info),
    });
    const result: ObtainResult = { ...resultFrom(action, issued.certPem, issued.info, decision.reason), accountUrl, ...(preflight ? { preflight } : {}) };
    log(`${action} certificate ${result.serial} for ${result.names.join(', ')}, valid until ${result.notAfter}`);
    await opts.onRenewed?.(result);
    return result;
  } finally {
    await release?.();
  }
}
