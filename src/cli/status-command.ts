import chalk from 'chalk';
import { Command } from 'commander';
import { addDeploymentOptions, withDeployment, type DeploymentFlags } from '../ops/deployment.js';
import { collectStatus, formatStatus } from '../ops/status.js';
import { Output } from './output.js';

/** `--json` prints exactly one document: no progress events. */
class DocumentOutput extends Output {
  override event(): void {}
}

/** `status [target]`: exit 0 when healthy, 1 when any check fails (warnings do not count). */
export function statusCommand(): Command {
  return addDeploymentOptions(
    new Command('status')
      .description('containers, versions, URL, certificate, disk, content, last renewal and GC; exits 1 when anything is unhealthy')
      .argument('[target]', 'user@host[:port] or a Host alias from ~/.ssh/config (default: the --config file\'s)'),
  ).action(async (target: string | undefined, flags: DeploymentFlags) => {
    const output = flags.json ? new DocumentOutput({ json: true }) : new Output();
    const report = await withDeployment(target, flags, output, 'status', async (d) => {
      const r = await output.step('collect', `Look at the deployment in ${d.dir}`, async () => {
        const report = await collectStatus(d);
        return { status: 'skipped' as const, detail: report.healthy ? 'healthy' : 'unhealthy', report };
      });
      return r.report;
    });
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(formatStatus(report, { ok: chalk.green, warn: chalk.yellow, fail: chalk.red }));
    process.exitCode = report.healthy ? 0 : 1;
  });
}
