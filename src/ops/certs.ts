// `certs status` and `certs renew`: the certificate of every host of a deployment, read over SSH,
// and the Let's Encrypt renewal run from here through every host.
import { certificateStatus, type CertificateStatus, type ObtainResult, type RenewalSlot } from '../acme/index.js';
import type { Output, StepStatus } from '../console/output.js';
import { RemoteAcmeStateStore } from '../deploy/acme-remote.js';
import { renewAndInstall } from '../deploy/letsencrypt.js';
import { reloadNginx } from '../deploy/stack.js';
import { HOST_LAYOUT } from '../host/contract.js';
import { eachDeployment, type Deployment } from './deployment.js';

/** One host's installed certificate and its renewal record. */
export async function readCertificateStatus(d: Deployment, slot?: RenewalSlot): Promise<CertificateStatus> {
  const store = new RemoteAcmeStateStore(d.host, d.dir);
  const files = await store.readCertificate();
  if (!files) throw new Error(`no certificate is installed in ${d.dir}/tls; run registry-setup deploy (or certs renew) first`);
  return certificateStatus(files.certPem, await store.readRenewalState(), new Date(), slot);
}

export interface HostCertificate {
  host: string;
  status: CertificateStatus;
  /** the certificate is from Let's Encrypt, which the timer renews */
  renewed: boolean;
}

export async function certificatesOf(ds: readonly Deployment[]): Promise<HostCertificate[]> {
  // several hosts renew in turns (deploy gives host i of n the i-th turn): a host waiting for its turn is not stalled
  const slotOf = (d: Deployment): RenewalSlot | undefined => (ds.length > 1 ? { index: ds.indexOf(d), count: ds.length } : undefined);
  return (await eachDeployment(ds, (d) => readCertificateStatus(d, slotOf(d)))).map((status, i) => ({ host: ds[i]!.label, status, renewed: ds[i]!.settings.tls === 'letsencrypt' }));
}

/**
 * Renews the Let's Encrypt certificate when due (or always with `force`) through every host,
 * installs it on all of them and reloads every nginx (a reload is a signal that drops no
 * connection, and one that failed before, or a host-side renewal whose reload never happened, is
 * made good here).
 */
export async function renewCertificates(ds: readonly Deployment[], o: { force?: boolean; output: Output }): Promise<ObtainResult> {
  const { output } = o;
  const settings = ds[0]!.settings;
  if (settings.tls !== 'letsencrypt') throw new Error(`this deployment uses --tls ${settings.tls}; only Let's Encrypt certificates are renewed here`);
  const places = ds.map((d) => ({ host: d.host, dir: d.dir, label: d.label, reloadNginx: async () => reloadNginx(d.exec, await d.composeTarget()) }));
  const r = await output.step('renew', o.force ? 'Renew the certificate (forced)' : 'Renew the certificate when due', async () => {
    const { obtained, fresh, copies } = await renewAndInstall(places, settings, {
      force: o.force,
      log: (l) => output.event('acme', { message: l }),
      reloadAll: true,
      // the host-side renewal's note that a reload is still owed
      afterReload: async (i) => void (await ds[i]!.exec.run(['rm', '-f', '--', ds[i]!.path(HOST_LAYOUT.reloadMarker)])),
    });
    const status: StepStatus = !fresh && copies === 0 ? 'unchanged' : 'done';
    return {
      status,
      detail: `${obtained.action}, serial ${obtained.serial}, valid until ${obtained.notAfter}${copies ? `; installed on ${copies} more host${copies === 1 ? '' : 's'}` : ''}`,
      obtained,
    };
  });
  return r.obtained;
}
