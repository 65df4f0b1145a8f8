// The takeover in order: record → switch the old stack off (ACLs, certbot, stop) → deploy our stack
// with the same name, ports, users, certificate and data → prove → on any failure, roll back.
import { isIP } from 'node:net';
import { posix } from 'node:path';
import { RemoteAcmeStateStore } from '../deploy/acme-remote.js';
import { HOST_LAYOUT } from '../host/contract.js';
import type { Output } from '../console/output.js';
import { deploy } from '../deploy/deploy.js';
import { Executor } from '../deploy/executor.js';
import type { RemoteHost } from '../remote/index.js';
import { completeSettings, mergeSettings } from '../settings/resolve.js';
import type { DeploySettings } from '../settings/settings.js';
import { readRegistryPayload } from '../version.js';
import { AdoptError } from './adopt-discover.js';
import type { AdoptSurvey } from './adopt.js';
import { adoptedRenewalState, adoptedSettings, proveAdoption, rollbackHost, switchOldStack, writeAdoptRecord } from './adopt-run.js';
import { adoptRecordPath } from './adopt-switch.js';
import { cliVersion } from './version.js';

export interface TakeoverOptions {
  host: RemoteHost;
  label: string;
  output: Output;
  installDir: string;
  survey: AdoptSurvey;
  /** an existing user's password, for the proof (never stored) */
  password: string;
  user?: string;
  /** deploy's settings that are not the old stack's: images, compose project, publish address */
  extra: Partial<DeploySettings>;
}

export interface TakeoverResult {
  settings: DeploySettings;
  record: string;
  proven: { tags: number; user: string };
}

export async function takeOver(o: TakeoverOptions): Promise<TakeoverResult> {
  const exec = new Executor(o.host, false);
  const d = o.survey.discovery;
  const kept = adoptedSettings(d, { user: o.user, email: o.extra.email, httpPort: o.extra.httpPort });
  const cert = d.nginx!.certificate!;
  const [certPem, keyPem] = await Promise.all([o.host.readFile(cert.hostCertificate, { sudo: true }), o.host.readFile(cert.hostKey, { sudo: true })]);
  if (!certPem || !keyPem) throw new AdoptError(`cannot read nginx's certificate ${cert.hostCertificate} or its key ${cert.hostKey} on the host`);
  const htpasswd = o.survey.facts.htpasswd[d.registry.id];
  if (!htpasswd) throw new AdoptError(`cannot read the old registry's htpasswd file (${d.registry.htpasswd?.host.hostPath ?? 'none'})`);
  // tls custom: the host paths of the certificate nginx serves now are recorded as where it came from
  const settings = completeSettings(mergeSettings([{ target: o.host.target.host, ...o.extra, ...kept, dir: o.installDir }]));
  const project = settings.composeProject ?? 'registry-setup';

  const record = await o.output.step('adopt-record', `Record ${o.survey.sample.length} tag(s) and what rollback needs`, async () => {
    const r = await writeAdoptRecord(exec, o.installDir, o.survey);
    return { status: 'done' as const, detail: adoptRecordPath(o.installDir), record: r };
  });
  const undo = async (why: string): Promise<never> => {
    const failed = await rollbackHost(exec, o.installDir, project, record.record);
    if (failed.length) throw new AdoptError(`${why}; the rollback did not finish (${failed.join('; ')}): see ${adoptRecordPath(o.installDir)} and run adopt --rollback again`);
    throw new AdoptError(`${why}; rolled back: the old stack runs again as it was`);
  };
  try {
    await o.output.step('adopt-switch', 'Grant the registry the data in place (ACLs), disable certbot, stop the old stack', async () => {
      await switchOldStack(exec, o.installDir, record.record, htpasswd);
      if (settings.tls === 'letsencrypt') {
        // pre-seeded where our renewal looks: deploy finds a certificate that is not due and issues none
        await exec.ensureDirectories([{ path: posix.join(o.installDir, HOST_LAYOUT.tlsDir), mode: 0o755 }]);
        const store = new RemoteAcmeStateStore(o.host, o.installDir);
        await store.writeCertificate({ certPem: certPem.toString('utf8'), keyPem: keyPem.toString('utf8') });
        await store.writeRenewalState(adoptedRenewalState(certPem.toString('utf8'), settings));
      }
      return { status: 'done' as const, detail: `${record.record.stopped.map((c) => c.name).join(', ')} stopped` };
    });
    await deploy({
      targets: [{ host: o.host, settings, label: o.label, output: o.output }],
      version: cliVersion(),
      registryPayload: readRegistryPayload(),
      ...(settings.tls === 'custom' ? { customTls: { cert: certPem, key: keyPem } } : {}),
      dryRun: false,
      output: o.output,
      verifyCa: certPem,
    });
  } catch (err) {
    return undo(`the switch failed: ${(err as Error).message.split('\n')[0]}`);
  }
  const problems = await o.output
    .step('adopt-proof', `Prove: ${record.record.tags.length} tag(s) resolve to the same digests, ${settings.user} logs in`, async () => {
      const p = await proveAdoption(record.record.tags, { settings, password: o.password, ca: certPem, connectTo: isIP(o.host.target.host) ? o.host.target.host : undefined });
      return { status: p.length ? ('failed' as const) : ('skipped' as const), detail: p.length ? `${p.length} problem(s)` : 'all identical, login ok', problems: p };
    })
    .then((r) => r.problems)
    .catch((err: Error) => [err.message]);
  if (problems.length) return undo(`the proof failed (${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''})`);
  return { settings, record: adoptRecordPath(o.installDir), proven: { tags: record.record.tags.length, user: settings.user } };
}
