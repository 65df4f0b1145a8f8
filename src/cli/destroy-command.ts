import { confirm, input } from '@inquirer/prompts';
import chalk from 'chalk';
import { Command } from 'commander';
import { formatBytes } from '../registry/format-bytes.js';
import { openSessions, withLogHint, type DeploymentFlags, type HostSession } from '../ops/deployment.js';
import { addDeploymentOptions } from './host-options.js';
import { executeDestroy, firewallItems, planDestroy, unitPurpose, type DestroyItem, type DestroyPlan } from '../ops/destroy.js';
import { OpsError } from '../ops/errors.js';
import { isInteractive } from '../session/connect.js';
import { eachHost, Output, printResult } from '../console/output.js';

interface DestroyFlags extends DeploymentFlags {
  purge?: boolean;
  dryRun?: boolean;
}

export class DestroyRefused extends OpsError {}

/** `destroy [targets...] [--purge] [--dry-run]`: every host; a bucket (--storage) is never touched. */
export function destroyCommand(): Command {
  return addDeploymentOptions(
    new Command('destroy')
      .description('stop and remove the registry (containers, network, renewal timer, generated files); image data and certificates are kept unless --purge; a bucket is never touched')
      .argument('[targets...]', "user@host[:port] or a Host alias from ~/.ssh/config; several, or none for the --config file's")
      .option('--purge', 'also delete the image data on the host, the certificates and the ACME account (asks you to type the domain, or --yes)')
      .option('--dry-run', 'show what would be removed and kept; change nothing'),
  ).action(async (targets: string[], flags: DestroyFlags) => {
    const output = new Output({ json: flags.json });
    const purge = Boolean(flags.purge);
    const sessions = await openSessions(targets, flags, output, 'destroy');
    const each = <R>(fn: (s: HostSession, i: number) => Promise<R>) => eachHost(sessions, (s) => s.label, fn);
    try {
      const plans = await each((s) => planDestroy(s, purge));
      if (flags.dryRun) {
        const dry = sessions.map((s, i) => ({ host: s.label, result: report(s, { removed: plans[i]!.remove, kept: plans[i]!.keep, purged: purge, dryRun: true }, plans[i]!, sessions.length > 1) }));
        printResult(output, dry, sessions.length > 1);
        return;
      }
      await confirmDestroy(plans, purge, flags, sessions);
      const results = await each((s, i) => executeDestroy(s, plans[i]!, purge, s.output));
      printResult(output, sessions.map((s, i) => ({ host: s.label, result: report(s, results[i]!, plans[i]!, sessions.length > 1) })), sessions.length > 1);
    } catch (err) {
      throw withLogHint(err, sessions, (logs) => `Every remote command is in ${logs}. Running destroy again is safe.`);
    } finally {
      for (const s of sessions) s.close();
    }
  });
}

async function confirmDestroy(plans: DestroyPlan[], purge: boolean, flags: DestroyFlags, sessions: HostSession[]): Promise<void> {
  if (flags.yes) return;
  const host = sessions.map((s) => s.label).join(', ');
  const name = plans[0]!.domain ?? sessions[0]!.hostName;
  const bucket = plans[0]!.storage ? ` (the bucket ${plans[0]!.storage} is left alone)` : '';
  if (!isInteractive(flags)) {
    throw new DestroyRefused(
      purge
        ? `destroy --purge deletes every image and certificate of ${name} on ${sessions.length > 1 ? host : sessions[0]!.hostName}${bucket}; pass --yes --purge to confirm without a terminal`
        : `destroy stops and removes the registry ${name} on ${sessions.length > 1 ? host : sessions[0]!.hostName}; pass --yes to confirm without a terminal`,
    );
  }
  const ctx = { output: process.stderr };
  if (purge) {
    process.stderr.write(`${chalk.red('This deletes everything:')} ${plans.flatMap((p) => p.remove).map(describe).join(', ')}${bucket}.\n`);
    const typed = await input({ message: `Type ${name} to delete all images and certificates:` }, ctx);
    if (typed.trim() !== name) throw new DestroyRefused(`"${typed.trim()}" is not ${name}: nothing was changed`);
    return;
  }
  const kept = plans.flatMap((p) => p.keep);
  const keep = kept.length ? ` Kept: ${kept.map(describe).join(', ')}.` : '';
  const ok = await confirm({ message: `Stop and remove the registry ${name} on ${sessions.length > 1 ? host : sessions[0]!.hostName}?${keep}`, default: false }, ctx);
  if (!ok) throw new DestroyRefused('nothing was changed');
}

function describe(i: DestroyItem): string {
  return `${i.path} (${i.what}${i.bytes !== undefined ? `, ${formatBytes(i.bytes)}` : ''})`;
}

/** Prints one host's outcome for people; returns it for --json. */
function report(s: HostSession, r: { removed: DestroyItem[]; kept: DestroyItem[]; purged: boolean; dryRun: boolean }, plan: DestroyPlan, several: boolean): Record<string, unknown> {
  const host = s.hostName;
  // a dry run lists what the steps would remove besides files: containers and (with --purge) the image
  const removed = r.dryRun
    ? [
        ...plan.containers.map((c) => ({ path: `container ${c.service} (${c.id.slice(0, 12)})`, what: `${c.state} container` })),
        ...(r.purged && plan.image ? [{ path: `image ${plan.image}`, what: 'registry image' }] : []),
        ...plan.units.map((u) => ({ path: `systemd unit ${u}`, what: unitPurpose(u) })),
        ...firewallItems(plan),
        ...r.removed,
      ]
    : r.removed;
  const result = { dryRun: r.dryRun, purged: r.purged, alreadyDestroyed: plan.alreadyDestroyed, removed, kept: r.kept };
  if (s.output.json) return result;
  const err = process.stderr;
  const where = several ? s.label : host;
  const verb = r.dryRun ? 'Would remove' : 'Removed';
  err.write(`\n${r.dryRun ? `Dry run${several ? ` for ${where}` : ''}: nothing was changed.` : `${chalk.green('✔')} ${plan.alreadyDestroyed && removed.length === 0 ? 'Nothing left to remove' : 'Destroyed'} on ${where}.`}\n`);
  err.write(`  ${verb}:${removed.length ? '' : ' nothing'}\n`);
  for (const i of removed) err.write(`    - ${describe(i)}\n`);
  err.write(`  ${r.dryRun ? 'Would keep' : 'Kept'}:${r.kept.length ? '' : ' nothing'}\n`);
  for (const i of r.kept) err.write(`    - ${describe(i)}\n`);
  if (r.kept.length && !r.purged) {
    err.write(chalk.dim(`  registry-setup deploy with the same settings serves the kept images again; registry-setup destroy --purge deletes them.\n`));
  }
  if (plan.storage) err.write(chalk.dim(`  The images in ${plan.storage} were left alone: delete the bucket's contents yourself if they are no longer needed.\n`));
  return result;
}
