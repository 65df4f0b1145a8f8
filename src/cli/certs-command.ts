import { Command } from 'commander';
import { stdoutColors } from '../console/colors.js';
import type { CertificateStatus } from '../acme/index.js';
import { certificatesOf, renewCertificates } from '../ops/certs.js';
import { withDeployments, type DeploymentFlags } from '../ops/deployment.js';
import { addDeploymentOptions } from './host-options.js';
import { Output, printResult } from '../console/output.js';

const TARGETS_HELP = "user@host[:port] or a Host alias from ~/.ssh/config; several, or none for the --config file's";

function printStatus(s: CertificateStatus, indent = ''): void {
  const out = process.stdout;
  out.write(`${indent}names:        ${s.names.join(', ')}\n`);
  out.write(`${indent}issuer:       ${s.issuer}${s.selfSigned ? ' (self-signed)' : ''}\n`);
  out.write(`${indent}serial:       ${s.serial}\n`);
  out.write(`${indent}not after:    ${s.notAfter} (${s.daysLeft} days left)\n`);
  out.write(`${indent}renewal due:  ${s.dueAt}${s.due ? stdoutColors.yellow(' (due now)') : ''}\n`);
  out.write(`${indent}last attempt: ${s.lastAttempt ? `${s.lastAttempt} ${s.lastResult}${s.lastError ? `: ${s.lastError}` : ''}` : 'never'}\n`);
  if (s.warning) out.write(`${indent}${stdoutColors.yellow('!')} ${s.warning}\n`);
}

export function certsCommand(): Command {
  const certs = new Command('certs').description("TLS certificate of a deployment: status, renewal");
  certs.addCommand(
    addDeploymentOptions(
      new Command('status')
        .description('names, issuer, expiry, when renewal is due, and the last renewal attempt (of every host)')
        .argument('[targets...]', TARGETS_HELP),
    ).action(async (targets: string[], flags: DeploymentFlags) => {
      const output = new Output({ json: flags.json });
      const all = await withDeployments(targets, flags, output, 'certs-status', certificatesOf);
      // several hosts serving different serials is normal: each renews its own certificate in its turn
      if (flags.json) printResult(output, all.map(({ host, status }) => ({ host, result: { ...status } })), all.length > 1);
      else {
        for (const { host, status } of all) {
          if (all.length > 1) process.stdout.write(`${host}:\n`);
          printStatus(status, all.length > 1 ? '  ' : '');
        }
      }
      // A certificate nobody is renewing is a problem worth a non-zero exit for monitoring: expired,
      // or (for Let's Encrypt, which the timer renews) due with the last attempt failed or due for
      // long with no success (a stalled timer, or a failure that could not be recorded).
      process.exitCode = all.some(({ status, renewed }) => status.expired || (renewed && status.warning !== undefined)) ? 1 : 0;
    }),
  );
  certs.addCommand(
    addDeploymentOptions(
      new Command('renew')
        .description("renew the Let's Encrypt certificate now when due (or always with --force) through every host, install it on all of them, then reload nginx")
        .argument('[targets...]', TARGETS_HELP)
        .option('--force', 'renew even when the certificate is not due'),
    ).action(async (targets: string[], flags: DeploymentFlags & { force?: boolean }) => {
      const output = new Output({ json: flags.json });
      await withDeployments(targets, flags, output, 'certs-renew', async (ds) => {
        const obtained = await renewCertificates(ds, { force: flags.force, output });
        printResult(output, [{ host: '', result: { action: obtained.action, serial: obtained.serial, notAfter: obtained.notAfter } }], false);
      });
    }),
  );
  return certs;
}
