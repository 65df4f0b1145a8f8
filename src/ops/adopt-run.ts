// `adopt <target>` for real: record, switch, deploy on the data in place, prove, and roll back when
// anything fails; `adopt --rollback` from the record alone. The commands come from adopt-switch.ts
// (pure); this file only runs them in order and decides when to undo.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { Executor } from '../deploy/executor.js';
import { RegistryClient } from '../client/registry-client.js';
import { publicUrl } from '../deploy/verify.js';
import { directoryUrlOf } from '../deploy/letsencrypt.js';
import { parseCertificate } from '../acme/certificate.js';
import type { RenewalState } from '../acme/state-store.js';
import { HOST_LAYOUT } from '../host/contract.js';
import { REGISTRY_UID, type DeploySettings } from '../settings/settings.js';
import { AdoptError, type AdoptDiscovery } from './adopt-discover.js';
import type { AdoptSurvey } from './adopt.js';
import type { TagDigest } from './adopt-plan.js';
import { aclToolsStep, ADOPT_STATE_DIR, adoptRecordPath, buildAdoptRecord, parseAdoptRecord, rollbackArgvs, switchArgvs, type AdoptRecord } from './adopt-switch.js';

/** What the new stack keeps of the old one: name, ports, data, users (pure; one line when it cannot). */
/**
 * What the new stack keeps of the old one: name, ports, data, users, certificate (pure; one line
 * when it cannot). A certificate of certbot's is renewed by registry-setup's timer from then on
 * (tls letsencrypt, the certificate pre-seeded, so nothing is issued now): that needs the ACME
 * account's e-mail. Any other certificate is kept as it is (tls custom). `httpPort` is for our
 * nginx when the old one had no HTTP port (default 80).
 */
export function adoptedSettings(d: AdoptDiscovery, o: { user?: string; email?: string; httpPort?: number }): Pick<DeploySettings, 'domain' | 'httpsPort' | 'httpPort' | 'dataDir' | 'user' | 'adoptedData' | 'tls' | 'email' | 'cert' | 'key'> {
  const n = d.nginx;
  if (!n?.certificate || n.httpsPort === undefined || !n.domain) {
    throw new AdoptError('adopt takes over a registry behind nginx with a certificate (HTTPS) in this version; this one has none: deploy a new registry beside it instead');
  }
  const users = d.registry.htpasswd?.users ?? [];
  if (users.length === 0) throw new AdoptError('the old registry has no htpasswd users to carry over: adopt needs one to prove the switch (a login with an existing password)');
  if (o.user !== undefined && !users.includes(o.user)) throw new AdoptError(`--user ${o.user} is not among the old registry's users (${users.join(', ')})`);
  const c = n.certificate;
  if (c.letsencrypt && o.email === undefined) throw new AdoptError(`the certificate is certbot's (${c.letsencrypt.name}): give --email ADDR, the ACME account's e-mail, so that registry-setup's timer renews it`);
  const tls = c.letsencrypt ? { tls: 'letsencrypt' as const, email: o.email } : { tls: 'custom' as const, cert: c.hostCertificate, key: c.hostKey };
  return { domain: n.domain, httpsPort: n.httpsPort, httpPort: n.httpPort ?? o.httpPort ?? 80, dataDir: d.registry.data.hostPath, user: o.user ?? users[0]!, adoptedData: true, ...tls };
}

/**
 * The renewal record of a certbot certificate taken over: it names the certificate (serial) and the
 * ACME directory that renews it, so that deploy and our timer see it as theirs and not due. Without
 * it deploy would order a new certificate at once ("has no renewal record"): ACME contact at adopt.
 */
export function adoptedRenewalState(certPem: string, settings: Pick<DeploySettings, 'acmeDirectory' | 'staging'>, now = new Date()): RenewalState {
  const info = parseCertificate(certPem);
  return {
    lastAttempt: now.toISOString(),
    lastResult: 'not-due',
    directoryUrl: directoryUrlOf(settings),
    serial: info.serial,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    issuer: info.issuer,
    names: info.names,
  };
}

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface ProofOptions {
  settings: Pick<DeploySettings, 'domain' | 'httpsPort' | 'user'>;
  password: string;
  ca?: Buffer;
  connectTo?: string;
  /** instead of https://<domain>:<httpsPort> (tests) */
  baseUrl?: string;
}

/**
 * The proof: a login with the existing password is accepted, and every recorded tag is served with
 * the recorded digest (the manifest's bytes hash to it). Returns the problems, none when proven.
 */
export async function proveAdoption(tags: readonly TagDigest[], o: ProofOptions): Promise<string[]> {
  const client = new RegistryClient({ baseUrl: o.baseUrl ?? publicUrl(o.settings), user: o.settings.user, password: o.password, ca: o.ca, connectTo: o.connectTo });
  const ping = await client.ping();
  if (ping.authenticated !== 200) return [`a login as ${o.settings.user} with the password given was answered ${ping.authenticated}, not 200`];
  const problems: string[] = [];
  const queue = [...tags];
  const worker = async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      const res = await client.request('GET', `/v2/${t.repository}/manifests/${encodeURIComponent(t.tag)}`, { headers: { Accept: MANIFEST_ACCEPT } });
      const got = res.status === 200 ? `sha256:${createHash('sha256').update(res.body).digest('hex')}` : `HTTP ${res.status}`;
      if (got !== t.digest) problems.push(`${t.repository}:${t.tag} is ${got}, was ${t.digest}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return problems;
}

/** Stops (not removes) our stack's containers by their compose project, whatever compose flavour made them. */
export function stopProjectArgv(project: string): string[] {
  return ['sh', '-c', 'ids=$(docker ps -q --filter "label=com.docker.compose.project=$1"); [ -z "$ids" ] || docker stop $ids', 'sh', project];
}

/** Reads the record of an adoption on the host, or undefined when there is none. */
export async function readAdoptRecord(exec: Executor, installDir: string): Promise<AdoptRecord | undefined> {
  const text = await exec.host.readFile(adoptRecordPath(installDir), { sudo: true });
  if (text === null) return undefined;
  const r = parseAdoptRecord(text.toString('utf8'));
  if (typeof r === 'string') throw new AdoptError(`${adoptRecordPath(installDir)} is not adopt's record (${r}): roll back by hand from it, or move it away`);
  return r;
}

/** Before anything changes: the record (tags, old containers, certbot, nginx config), 0600 in a 0700 directory. */
export async function writeAdoptRecord(exec: Executor, installDir: string, survey: AdoptSurvey): Promise<AdoptRecord> {
  if (await readAdoptRecord(exec, installDir)) throw new AdoptError(`this host was adopted already (${adoptRecordPath(installDir)}): run adopt --rollback first to adopt again`);
  const d = survey.discovery;
  const nginxConfig = d.nginx ? survey.facts.nginxConfigs[d.nginx.kind === 'host' ? 'host' : d.nginx.container!.id] : undefined;
  const record = buildAdoptRecord(d, installDir, survey.sample, nginxConfig);
  await exec.ensureDirectories([
    { path: installDir, mode: 0o755 },
    { path: posix.join(installDir, HOST_LAYOUT.stateDir), mode: 0o755, owner: REGISTRY_UID, group: REGISTRY_UID },
    { path: posix.join(installDir, ADOPT_STATE_DIR), mode: 0o700 },
  ]);
  await exec.applyFiles([{ path: adoptRecordPath(installDir), content: `${JSON.stringify(record, null, 2)}\n`, mode: 0o600 }]);
  return record;
}

/**
 * The switch's changes to the old stack (ACLs, certbot, stopping it) and the old users pre-seeded
 * as our htpasswd (deploy keeps a file that has the user). Throws on the first failure.
 */
export async function switchOldStack(exec: Executor, installDir: string, record: AdoptRecord, htpasswd: string): Promise<void> {
  await exec.runStep(aclToolsStep());
  for (const argv of switchArgvs(record, REGISTRY_UID)) await exec.run(argv);
  await exec.ensureDirectories([{ path: posix.join(installDir, HOST_LAYOUT.authDir), mode: 0o755 }]);
  await exec.applyFiles([{ path: posix.join(installDir, HOST_LAYOUT.htpasswd), content: htpasswd, mode: 0o600, owner: REGISTRY_UID, group: REGISTRY_UID, sensitive: true }]);
}

/**
 * Back to the old stack: ours stopped (ports free), the record's changes undone, then the record
 * moved aside (rolled-back-<time>.json) so the host can be adopted again. Every step is tried;
 * the ones that failed are returned.
 */
export async function rollbackHost(exec: Executor, installDir: string, project: string, record: AdoptRecord): Promise<string[]> {
  const failed: string[] = [];
  for (const argv of [stopProjectArgv(project), ...rollbackArgvs(record)]) {
    const r = await exec.run(argv, { allowFailure: true, timeoutMs: 5 * 60_000 });
    if (r.code !== 0) failed.push(`${argv.join(' ')}: ${(r.stderr.trim().split('\n').at(-1) ?? '') || `exit ${r.code}`}`);
  }
  if (failed.length === 0) {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    await exec.run(['mv', '-f', '--', adoptRecordPath(installDir), posix.join(installDir, ADOPT_STATE_DIR, `rolled-back-${stamp}.json`)]);
  }
  return failed;
}
