import chalk from 'chalk';
import { Command, Option } from 'commander';
import { publicUrl } from '../deploy/verify.js';
import { addDeploymentOptions, withDeployment, type DeploymentFlags } from '../ops/deployment.js';
import { upgrade } from '../ops/upgrade.js';
import { cliVersion } from '../ops/version.js';
import { readRegistryBundle } from '../version.js';
import { Output } from './output.js';

interface UpgradeFlags extends DeploymentFlags {
  force?: boolean;
  publishAddress?: string;
}

/** `upgrade [target] [--force]`: the registry image rebuilt from this CLI's payload, restarted with a short interruption. */
export function upgradeCommand(): Command {
  return addDeploymentOptions(
    new Command('upgrade')
      .description("rebuild the registry image from this registry-setup's version and restart only the registry (data, users and certificates stay)")
      .argument('[target]', "user@host[:port] or a Host alias from ~/.ssh/config (default: the --config file's)")
      .option('--force', 'also install when the deployment is newer than this registry-setup (a downgrade)')
      .addOption(new Option('--publish-address <addr>').hideHelp()),
  ).action(async (target: string | undefined, flags: UpgradeFlags) => {
    const output = new Output({ json: flags.json });
    const bundle = readRegistryBundle();
    await withDeployment(target, flags, output, 'upgrade', async (d) => {
      const r = await upgrade(d, { version: cliVersion(), registryBundle: bundle, force: Boolean(flags.force), output, publishAddress: flags.publishAddress });
      if (output.json) {
        output.event('result', { from: r.from, to: r.to, changed: r.changed, image: r.image, restartMs: r.restartMs, removedImage: r.removedImage, files: r.files });
        return;
      }
      const what = !r.changed ? `already at ${r.to}` : r.from === r.to ? `${r.to} repaired` : `upgraded from ${r.from} to ${r.to}`;
      process.stderr.write(`\n${chalk.green('✔')} ${publicUrl(d.settings)}: ${what}`);
      process.stderr.write(r.restartMs !== undefined ? ` (registry recreated, healthy ${(r.restartMs / 1000).toFixed(1)} s later)\n` : '\n');
    });
  });
}
