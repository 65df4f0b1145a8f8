import { confirm, input } from '@inquirer/prompts';
import chalk from 'chalk';
import { Command } from 'commander';
import { SettingsError } from '../settings/resolve.js';
import { formatBytes } from '../registry/gc/gc-command.js';
import { addDeploymentOptions, openSession, type DeploymentFlags } from '../ops/deployment.js';
import { executeDestroy, planDestroy, type DestroyItem, type DestroyPlan } from '../ops/destroy.js';
import { OpsError } from '../ops/errors.js';
import { isInteractive } from './host-session.js';
import { Output } from './output.js';

interface DestroyFlags extends DeploymentFlags {
  purge?: boolean;
  dryRun?: boolean;
}

export class DestroyRefused extends OpsError {}

/** `destroy [target] [--purge] [--dry-run]` */
export function destroyCommand(): Command {
  return addDeploymentOptions(
    new Command('destroy')
      .description('stop and remove the registry (containers, network, renewal timer, generated files); image data and certificates are kept unless --purge')
      .argument('[target]', "user@host[:port] or a Host alias from ~/.ssh/config (default: the --config file's)")
      .option('--purge', 'also delete the image data, the certificates and the ACME account (asks you to type the domain, or --yes)')
      .option('--dry-run', 'show what would be removed and kept; change nothing'),
  ).action(async (target: string | undefined, flags: DestroyFlags) => {
    const output = new Output({ json: flags.json });
    const purge = Boolean(flags.purge);
    const session = await openSession(target, flags, output, 'destroy');
    try {
      const plan = await planDestroy(session, purge);
      if (flags.dryRun) {
        report(output, { removed: plan.remove, kept: plan.keep, purged: purge, dryRun: true }, plan, session.hostName);
        return;
      }
      await confirmDestroy(plan, purge, flags, session.hostName);
      const result = await executeDestroy(session, plan, purge, output);
      report(output, result, plan, session.hostName);
    } catch (err) {
      if (!(err as { hint?: string }).hint && !(err instanceof OpsError) && !(err instanceof SettingsError)) {
        (err as { hint?: string }).hint = `Every remote command is in ${session.logFile}. Running destroy again is safe.`;
      }
      throw err;
    } finally {
      session.close();
    }
  });
}

async function confirmDestroy(plan: DestroyPlan, purge: boolean, flags: DestroyFlags, host: string): Promise<void> {
  if (flags.yes) return;
  const name = plan.domain ?? host;
  if (!isInteractive(flags)) {
    throw new DestroyRefused(
      purge
        ? `destroy --purge deletes every image and certificate of ${name} on ${host}; pass --yes --purge to confirm without a terminal`
        : `destroy stops and removes the registry ${name} on ${host}; pass --yes to confirm without a terminal`,
    );
  }
  const ctx = { output: process.stderr };
  if (purge) {
    process.stderr.write(`${chalk.red('This deletes everything:')} ${plan.remove.map(describe).join(', ')}.\n`);
    const typed = await input({ message: `Type ${name} to delete all images and certificates:` }, ctx);
    if (typed.trim() !== name) throw new DestroyRefused(`"${typed.trim()}" is not ${name}: nothing was changed`);
    return;
  }
  const keep = plan.keep.length ? ` Kept: ${plan.keep.map(describe).join(', ')}.` : '';
  const ok = await confirm({ message: `Stop and remove the registry ${name} on ${host}?${keep}`, default: false }, ctx);
  if (!ok) throw new DestroyRefused('nothing was changed');
}

function describe(i: DestroyItem): string {
  return `${i.path} (${i.what}${i.bytes !== undefined ? `, ${formatBytes(i.bytes)}` : ''})`;
}

function report(output: Output, r: { removed: DestroyItem[]; kept: DestroyItem[]; purged: boolean; dryRun: boolean }, plan: DestroyPlan, host: string): void {
  // a dry run lists what the steps would remove besides files: containers and (with --purge) the image
  const removed = r.dryRun
    ? [
        ...plan.containers.map((c) => ({ path: `container ${c.service} (${c.id.slice(0, 12)})`, what: `${c.state} container` })),
        ...(r.purged && plan.image ? [{ path: `image ${plan.image}`, what: 'registry image' }] : []),
        ...plan.units.map((u) => ({ path: `systemd unit ${u}`, what: 'certificate renewal' })),
        ...r.removed,
      ]
    : r.removed;
  if (output.json) {
    output.event('result', { dryRun: r.dryRun, purged: r.purged, alreadyDestroyed: plan.alreadyDestroyed, removed, kept: r.kept });
    return;
  }
  const err = process.stderr;
  const verb = r.dryRun ? 'Would remove' : 'Removed';
  err.write(`\n${r.dryRun ? 'Dry run: nothing was changed.' : `${chalk.green('✔')} ${plan.alreadyDestroyed && removed.length === 0 ? 'Nothing left to remove' : 'Destroyed'} on ${host}.`}\n`);
  err.write(`  ${verb}:${removed.length ? '' : ' nothing'}\n`);
  for (const i of removed) err.write(`    - ${describe(i)}\n`);
  err.write(`  ${r.dryRun ? 'Would keep' : 'Kept'}:${r.kept.length ? '' : ' nothing'}\n`);
  for (const i of r.kept) err.write(`    - ${describe(i)}\n`);
  if (r.kept.length && !r.purged) {
    err.write(chalk.dim(`  registry-setup deploy with the same settings serves the kept images again; registry-setup destroy --purge deletes them.\n`));
  }
}
