import { Command } from 'commander';
import chalk from 'chalk';
import { certificateStatus, type CertificateStatus } from '../acme/index.js';
import { RemoteAcmeStateStore } from '../deploy/acme-remote.js';
import { ensureCertificate } from '../deploy/letsencrypt.js';
import { reloadNginx } from '../deploy/stack.js';
import { addDeploymentOptions, withDeployment, type DeploymentFlags } from '../ops/deployment.js';
import { Output } from './output.js';

async function readStatus(store: RemoteAcmeStateStore, dir: string): Promise<CertificateStatus> {
  const files = await store.readCertificate();
  if (!files) throw new Error(`no certificate is installed in ${dir}/tls; run registry-setup deploy (or certs renew) first`);
  return certificateStatus(files.certPem, await store.readRenewalState());
}

function printStatus(s: CertificateStatus): void {
  const out = process.stdout;
  out.write(`names:        ${s.names.join(', ')}\n`);
  out.write(`issuer:       ${s.issuer}${s.selfSigned ? ' (self-signed)' : ''}\n`);
  out.write(`serial:       ${s.serial}\n`);
  out.write(`not after:    ${s.notAfter} (${s.daysLeft} days left)\n`);
  out.write(`renewal due:  ${s.dueAt}${s.due ? chalk.yellow(' (due now)') : ''}\n`);
  out.write(`last attempt: ${s.lastAttempt ? `${s.lastAttempt} ${s.lastResult}${s.lastError ? `: ${s.lastError}` : ''}` : 'never'}\n`);
  if (s.warning) out.write(`${chalk.yellow('!')} ${s.warning}\n`);
}

export function certsCommand(): Command {
  const certs = new Command('certs').description("TLS certificate of a deployment: status, renewal");
  certs.addCommand(
    addDeploymentOptions(
      new Command('status')
        .description('names, issuer, expiry, when renewal is due, and the last renewal attempt')
        .argument('[target]', 'user@host[:port] or a Host alias from ~/.ssh/config'),
    ).action(async (target: string | undefined, flags: DeploymentFlags) => {
      const output = new Output({ json: flags.json });
      const status = await withDeployment(target, flags, output, 'certs-status', (d) => readStatus(new RemoteAcmeStateStore(d.host, d.dir), d.dir));
      if (flags.json) process.stdout.write(`${JSON.stringify({ type: 'certificate', ...status })}\n`);
      else printStatus(status);
      // A certificate nobody is renewing is a problem worth a non-zero exit for monitoring.
      process.exitCode = status.expired || (status.due && status.lastResult === 'failed') ? 1 : 0;
    }),
  );
  certs.addCommand(
    addDeploymentOptions(
      new Command('renew')
        .description("renew the Let's Encrypt certificate now when due (or always with --force), then reload nginx")
        .argument('[target]', 'user@host[:port] or a Host alias from ~/.ssh/config')
        .option('--force', 'renew even when the certificate is not due'),
    ).action(async (target: string | undefined, flags: DeploymentFlags & { force?: boolean }) => {
      const output = new Output({ json: flags.json });
      await withDeployment(target, flags, output, 'certs-renew', async (d) => {
        if (d.settings.tls !== 'letsencrypt') throw new Error(`this deployment uses --tls ${d.settings.tls}; only Let's Encrypt certificates are renewed here`);
        const r = await output.step('renew', flags.force ? 'Renew the certificate (forced)' : 'Renew the certificate when due', async () => {
          const obtained = await ensureCertificate(d.host, d.settings, {
            force: flags.force,
            log: (l) => output.event('acme', { message: l }),
            onRenewed: async () => reloadNginx(d.exec, await d.composeTarget()),
          });
          return {
            status: obtained.action === 'not-due' ? ('unchanged' as const) : ('done' as const),
            detail: `${obtained.action}, serial ${obtained.serial}, valid until ${obtained.notAfter}`,
            obtained,
          };
        });
        output.event('result', { action: r.obtained.action, serial: r.obtained.serial, notAfter: r.obtained.notAfter });
      });
    }),
  );
  return certs;
}
