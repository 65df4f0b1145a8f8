import { select } from '@inquirer/prompts';
import { Command } from 'commander';
import { Executor } from '../deploy/executor.js';
import { Output, printResult } from '../console/output.js';
import { resolveTargets } from '../ops/deployment.js';
import { OpsError } from '../ops/errors.js';
import { surveyHost, type AskChoice } from '../ops/adopt.js';
import { describeDiscovery } from '../ops/adopt-plan.js';
import { connectHosts, isInteractive, type HostFlags } from '../session/connect.js';
import { addHostOptions } from './host-options.js';

interface AdoptFlags extends HostFlags {
  dryRun?: boolean;
  container?: string;
  domain?: string;
}

/** `adopt <target> --dry-run`: find a hand-built registry:2 stack on the host and show the takeover plan. */
export function adoptCommand(): Command {
  return addHostOptions(
    new Command('adopt')
      .description('take over a hand-built registry:2 stack (compose or docker run, with nginx and certbot) on the host, its data in place')
      .argument('<target>', 'user@host[:port] or a Host alias from ~/.ssh/config')
      .option('--dry-run', 'show what was found on the host and the plan; change nothing')
      .option('--container <name>', 'the registry container to adopt, when the host runs several')
      .option('--domain <name>', 'the domain to keep, when nginx serves the registry under several'),
  ).action(async (target: string, flags: AdoptFlags) => {
    if (!flags.dryRun) throw new OpsError('adopt only surveys the host in this version: run it with --dry-run (the switch itself is not available yet)');
    const output = new Output({ json: flags.json });
    const [spec] = await resolveTargets([target], flags);
    const [c] = await connectHosts([spec!], flags, output, 'adopt');
    try {
      const ask: AskChoice | undefined = isInteractive(flags)
        ? (a) => select({ message: `Found ${a.choices.length} ${a.what} (${a.flag} skips this question). Which one?`, choices: a.choices.map((v) => ({ name: v, value: v })) }, { output: process.stderr })
        : undefined;
      const survey = await output.step('survey', `Look for a hand-built registry on ${c!.host.target.host} (read-only)`, async () => {
        const s = await surveyHost(new Executor(c!.host, true), spec!.dir, { container: flags.container, domain: flags.domain }, ask);
        return { status: 'done' as const, detail: `${s.discovery.registry.name}, ${s.tags.length} tag(s)`, survey: s };
      }, { mayPrompt: ask !== undefined });
      const { discovery, tags, sample, plan } = survey.survey;
      if (!output.json) {
        process.stdout.write(`${describeDiscovery(discovery).join('\n')}\ntags:         ${tags.length}\n\nThe plan (nothing was changed):\n${plan.map((s, i) => `  ${i + 1}. ${s}`).join('\n')}\n`);
      }
      printResult(output, [{ host: spec!.label, result: { dryRun: true, found: discovery, tags: { total: tags.length, sampled: sample.length }, plan } }], false);
    } finally {
      c!.host.close();
    }
  });
}
