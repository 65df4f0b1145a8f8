import { select } from '@inquirer/prompts';
import { Command, Option } from 'commander';
import { Executor } from '../deploy/executor.js';
import { readHostRecord } from '../deploy/host-record.js';
import { Output, printResult } from '../console/output.js';
import { resolveTargets } from '../ops/deployment.js';
import { OpsError } from '../ops/errors.js';
import { surveyHost, type AskChoice } from '../ops/adopt.js';
import { describeDiscovery } from '../ops/adopt-plan.js';
import { readAdoptRecord, rollbackHost } from '../ops/adopt-run.js';
import { takeOver } from '../ops/adopt-takeover.js';
import { adoptRecordPath } from '../ops/adopt-switch.js';
import { checkStdinClaims, connectHosts, isInteractive, readStdinSecret, type HostFlags } from '../session/connect.js';
import { addHostOptions } from './host-options.js';
import { isPort } from '../settings/rules.js';

interface AdoptFlags extends HostFlags {
  dryRun?: boolean;
  rollback?: boolean;
  container?: string;
  domain?: string;
  user?: string;
  passwordStdin?: boolean;
  nodeImage?: string;
  nginxImage?: string;
  composeProject?: string;
  publishAddress?: string;
  httpPort?: string;
  email?: string;
}

/** `adopt <target>`: find a hand-built registry:2 stack on the host and take it over (or show the plan, or roll back). */
export function adoptCommand(): Command {
  return addHostOptions(
    new Command('adopt')
      .description('take over a hand-built registry:2 stack (compose or docker run, with nginx and certbot) on the host, its data in place')
      .argument('<target>', 'user@host[:port] or a Host alias from ~/.ssh/config')
      .option('--dry-run', 'show what was found on the host and the plan; change nothing')
      .option('--rollback', 'bring back the old stack as adopt found it (stops ours)')
      .option('--container <name>', 'the registry container to adopt, when the host runs several')
      .option('--domain <name>', 'the domain to keep, when nginx serves the registry under several')
      .option('--user <name>', "the existing user whose login proves the switch (default: the htpasswd file's first)")
      .option('--password-stdin', "that user's existing password, read from stdin (needed for the switch)")
      .option('--email <addr>', "the ACME account's e-mail, when the certificate is certbot's (our timer renews it)")
      .option('--http-port <port>', "HTTP port for our nginx when the old one had none (default 80)")
      .option('--node-image <image>', 'base image of the registry image (as deploy)')
      .option('--nginx-image <image>', 'nginx image (as deploy)')
      .option('--publish-address <addr>', "publish nginx's ports on this address only (as deploy)")
      .addOption(new Option('--compose-project <name>').hideHelp()),
  ).action(async (target: string, flags: AdoptFlags) => {
    const output = new Output({ json: flags.json });
    if (flags.dryRun && flags.rollback) throw new OpsError('--dry-run and --rollback do not go together: give one');
    const switching = !flags.dryRun && !flags.rollback;
    if (flags.httpPort !== undefined && !isPort(Number(flags.httpPort))) throw new OpsError(`--http-port: ${flags.httpPort} is not a port number (1-65535)`);
    if (switching && !flags.passwordStdin) throw new OpsError("adopt proves the switch with an existing user's login: pipe that password with --password-stdin (or look first with --dry-run)");
    checkStdinClaims(flags);
    const password = switching ? await readStdinSecret('--password-stdin') : undefined;
    const [spec] = await resolveTargets([target], flags);
    const [c] = await connectHosts([spec!], flags, output, 'adopt');
    try {
      if (flags.rollback) {
        const exec = new Executor(c!.host, false);
        const record = await readAdoptRecord(exec, spec!.dir);
        if (!record) throw new OpsError(`nothing to roll back: ${adoptRecordPath(spec!.dir)} is not on the host (adopt was not run there, or was rolled back)`);
        const project = flags.composeProject ?? (await readHostRecord(c!.host, spec!.dir))?.settings.composeProject ?? 'registry-setup';
        await output.step('adopt-rollback', `Stop registry-setup's stack and bring back ${record.stopped.map((s) => s.name).join(', ')}`, async () => {
          const failed = await rollbackHost(exec, spec!.dir, project, record);
          if (failed.length) throw new OpsError(`the rollback did not finish (${failed.join('; ')}); run adopt --rollback again once fixed`);
          return { status: 'done' as const };
        });
        printResult(output, [{ host: spec!.label, result: { rolledBack: true, started: record.stopped.map((s) => s.name) } }], false);
        return;
      }
      const ask: AskChoice | undefined = isInteractive(flags)
        ? (a) => select({ message: `Found ${a.choices.length} ${a.what} (${a.flag} skips this question). Which one?`, choices: a.choices.map((v) => ({ name: v, value: v })) }, { output: process.stderr })
        : undefined;
      const survey = await output.step('survey', `Look for a hand-built registry on ${c!.host.target.host} (read-only)`, async () => {
        const s = await surveyHost(new Executor(c!.host, true), spec!.dir, { container: flags.container, domain: flags.domain }, ask);
        return { status: 'done' as const, detail: `${s.discovery.registry.name}, ${s.tags.length} tag(s)`, survey: s };
      }, { mayPrompt: ask !== undefined });
      const { discovery, tags, sample, plan } = survey.survey;
      if (flags.dryRun) {
        if (!output.json) {
          process.stdout.write(`${describeDiscovery(discovery).join('\n')}\ntags:         ${tags.length}\n\nThe plan (nothing was changed):\n${plan.map((s, i) => `  ${i + 1}. ${s}`).join('\n')}\n`);
        }
        printResult(output, [{ host: spec!.label, result: { dryRun: true, found: discovery, tags: { total: tags.length, sampled: sample.length }, plan } }], false);
        return;
      }
      const extra = { email: flags.email, httpPort: flags.httpPort === undefined ? undefined : Number(flags.httpPort), nodeImage: flags.nodeImage, nginxImage: flags.nginxImage, composeProject: flags.composeProject, publishAddress: flags.publishAddress };
      const done = await takeOver({ host: c!.host, label: spec!.label, output, installDir: spec!.dir, survey: survey.survey, password: password!, user: flags.user, extra });
      if (!output.json) process.stdout.write(`Adopted ${discovery.registry.name}: https://${done.settings.domain}:${done.settings.httpsPort}, ${done.proven.tags} tag(s) proven identical, ${done.proven.user} logs in. Undo with: registry-setup adopt ${target} --rollback\n`);
      printResult(output, [{ host: spec!.label, result: { adopted: discovery.registry.name, record: done.record, proven: done.proven } }], false);
    } finally {
      c!.host.close();
    }
  });
}
