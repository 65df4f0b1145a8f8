import chalk from 'chalk';
import { Command, Option } from 'commander';
import { generateUploadSecret, usableUploadSecret } from '../deploy/deploy.js';
import { publicUrl } from '../deploy/verify.js';
import { withDeployments, type DeploymentFlags } from '../ops/deployment.js';
import { addDeploymentOptions } from './host-options.js';
import { upgrade } from '../ops/upgrade.js';
import { cliVersion } from '../ops/version.js';
import { HOST_LAYOUT } from '../host/contract.js';
import { checkPartial } from '../settings/resolve.js';
import { readRegistryPayload } from '../version.js';
import { Output, printResult } from '../console/output.js';

interface UpgradeFlags extends DeploymentFlags {
  force?: boolean;
  publishAddress?: string;
}

/**
 * `upgrade [targets...] [--force]`: the registry image rebuilt from this CLI's payload and switched
 * to without a gap (src/ops/gapless-upgrade.ts). Several hosts: one after the other.
 */
export function upgradeCommand(): Command {
  return addDeploymentOptions(
    new Command('upgrade')
      .description("rebuild the registry image from this registry-setup's version and switch to it without a gap: started beside the old one, nginx reloaded onto it (data, users and certificates stay); several hosts one at a time")
      .argument('[targets...]', "user@host[:port] or a Host alias from ~/.ssh/config; several, or none for the --config file's")
      .option('--force', 'also install when the deployment is newer than this registry-setup (a downgrade)')
      .addOption(new Option('--publish-address <addr>').hideHelp()),
  ).action(async (targets: string[], flags: UpgradeFlags) => {
    // deploy's rule and message for the same flag, before any host is contacted
    const { publishAddress } = checkPartial(flags.publishAddress === undefined ? {} : { publishAddress: flags.publishAddress }, 'flags');
    const output = new Output({ json: flags.json });
    const payload = readRegistryPayload();
    await withDeployments(targets, flags, output, 'upgrade', async (ds) => {
      // Deployments from before upload secrets get one, the same on every host.
      const secrets = await Promise.all(ds.map((d) => d.host.readFile(d.path(HOST_LAYOUT.uploadSecret), { sudo: true })));
      const uploadSecret = secrets.map(usableUploadSecret).find((s) => s !== undefined) ?? generateUploadSecret();
      const results: { host: string; result: Record<string, unknown> }[] = [];
      for (const d of ds) {
        const r = await upgrade(d, { version: cliVersion(), registryPayload: payload, force: Boolean(flags.force), output: d.output, publishAddress, uploadSecret });
        results.push({ host: d.label, result: { from: r.from, to: r.to, changed: r.changed, image: r.image, restartMs: r.restartMs, removedImage: r.removedImage, files: r.files } });
        if (output.json) continue;
        const what = !r.changed ? `already at ${r.to}` : r.from === r.to ? `${r.to} repaired` : `upgraded from ${r.from} to ${r.to}`;
        process.stderr.write(`\n${chalk.green('✔')} ${publicUrl(d.settings)}${ds.length > 1 ? ` (${d.label})` : ''}: ${what}`);
        process.stderr.write(r.restartMs !== undefined ? ` (switched to the new registry without a gap in ${(r.restartMs / 1000).toFixed(1)} s)\n` : '\n');
      }
      printResult(output, results, ds.length > 1);
    });
  });
}
