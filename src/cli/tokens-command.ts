import chalk from 'chalk';
import { Command } from 'commander';
import { publicUrl } from '../deploy/verify.js';
import { eachDeployment, withDeployments, type DeploymentFlags } from '../ops/deployment.js';
import {
  checkTokenRequest,
  formatTokenRows,
  generateTokenSecret,
  latestUse,
  readTokenEntries,
  readTokenUsage,
  requireTokensFile,
  tokenEntry,
  tokenRows,
  TokensError,
  writeTokenEntries,
} from '../ops/tokens.js';
import { readUsers, waitAccepted } from '../ops/users.js';
import { Output, passwordLines, revealPassword } from '../console/output.js';
import { addDeploymentOptions } from './host-options.js';

const TARGETS_HELP = "user@host[:port] or a Host alias from ~/.ssh/config; several (they share one tokens file), or none for the --config file's";

interface CreateFlags extends DeploymentFlags {
  name: string;
  repos: string;
  actions: string;
  expires: string;
}

/**
 * `tokens create|list|revoke`: CI tokens, used as a password (`docker login -u <name>`), limited to
 * repository globs and actions, with an expiry. Several hosts share one file: read from the first,
 * written to all.
 */
export function tokensCommand(): Command {
  const tokens = new Command('tokens').description('CI tokens: secrets with a repository scope and an expiry, used with docker login -u <name> (no restart needed)');

  tokens.addCommand(
    addDeploymentOptions(
      new Command('create')
        .description('create a token; its secret is shown once')
        .argument('[targets...]', TARGETS_HELP)
        .requiredOption('--name <name>', 'the token\'s name: the user name for docker login, and the user the access policy gives permissions to')
        .requiredOption('--repos <globs>', "repository globs it may use, comma-separated, like 'app/**'")
        .requiredOption('--actions <list>', 'what it may do there, comma-separated: read, create, update, delete')
        .option('--expires <when>', 'a duration like 90d or 12h, a time like 2027-03-06T00:00:00Z, or never', '90d'),
    ).action(async (targets: string[], flags: CreateFlags) => {
      const output = new Output({ json: flags.json });
      const checked = checkTokenRequest(flags);
      await withDeployments(targets, flags, output, 'tokens-create', async (ds) => {
        const d = ds[0]!;
        await requireTokensFile(d);
        const [entries, users] = await Promise.all([readTokenEntries(d), readUsers(d)]);
        if (entries.some((t) => t.name === checked.name)) throw new TokensError(`token "${checked.name}" already exists on ${d.hostName}; revoke it first (registry-setup tokens revoke ${checked.name}) or choose another name`);
        if (users.has(checked.name)) throw new TokensError(`"${checked.name}" is a registry user on ${d.hostName}: a token needs a name of its own`);
        const secret = generateTokenSecret();
        const entry = tokenEntry(checked, secret);
        let written = false;
        try {
          await output.step('write', `Create token ${entry.name}`, async () => {
            written = true;
            await eachDeployment(ds, (x) => writeTokenEntries(x, [...entries, entry]));
            return { status: 'done' as const, detail: ds.length > 1 ? `auth/tokens.yaml replaced on ${ds.length} hosts` : `${d.path('auth/tokens.yaml')} replaced` };
          });
          await eachDeployment(ds, (x) =>
            x.output.step('check', `Check the token at ${publicUrl(x.settings)}`, async () => {
              const r = await waitAccepted(x, entry.name, secret);
              if (r.result === 'rejected') throw new Error(`the registry did not accept the token within 10 s (${r.detail}); see registry-setup logs ${x.host.label} --service registry`);
              if (r.result !== 'accepted') x.output.warn(`${r.detail}; the token was written on the host anyway`);
              return { status: 'skipped' as const, detail: r.result === 'accepted' ? 'accepted' : 'not checked' };
            }),
          );
        } catch (err) {
          if (written) revealPassword(output, entry.name, secret, 'the command failed after writing the token: it may be in force; store it, or revoke it');
          throw err;
        }
        const registry = publicUrl(d.settings).replace(/^https:\/\//, '');
        const scope = `${entry.repositories.join(', ')}: ${entry.actions.join(', ')}`;
        if (output.json) {
          output.event('result', { token: entry.name, scope, repositories: entry.repositories, actions: entry.actions, expires: entry.expires ?? null, secret, login: `docker login ${registry} -u ${entry.name} --password-stdin` });
          return;
        }
        const err = process.stderr;
        err.write(`\n${chalk.green('✔')} Token ${entry.name} created (${scope}; expires ${entry.expires ?? 'never'}).\n`);
        err.write(passwordLines(entry.name, secret, 'the token\'s secret'));
        err.write(`  Log in with:  docker login ${registry} -u ${entry.name} --password-stdin\n`);
        err.write(`  The access policy must give ${entry.name} these actions too: registry-setup access check ${entry.name} <repo> <action>\n`);
      });
    }),
  );

  tokens.addCommand(
    addDeploymentOptions(new Command('list').description('the tokens: name, scope, expiry, last use').argument('[targets...]', TARGETS_HELP)).action(
      async (targets: string[], flags: DeploymentFlags) => {
        const output = new Output({ json: flags.json });
        await withDeployments(targets, flags, output, 'tokens-list', async (ds) => {
          const [entries, usage] = await Promise.all([readTokenEntries(ds[0]!), eachDeployment(ds, readTokenUsage)]);
          const rows = tokenRows(entries, latestUse(usage));
          if (output.json) output.event('result', { tokens: rows });
          else if (!rows.length) process.stderr.write(`${ds[0]!.hostName}: no CI tokens (create one with registry-setup tokens create)\n`);
          else process.stdout.write(formatTokenRows(rows));
        });
      },
    ),
  );

  tokens.addCommand(
    addDeploymentOptions(
      new Command('revoke')
        .description('revoke a token: it stops working within a second')
        .usage('[targets...] <name> [options]')
        .argument('[args...]', "the target(s) (none for the --config file's), then the token's name"),
    ).action(async (args: string[], flags: DeploymentFlags) => {
      const name = args.at(-1);
      if (name === undefined) throw new TokensError('give the token\'s name: registry-setup tokens revoke [targets...] <name>');
      const output = new Output({ json: flags.json });
      await withDeployments(args.slice(0, -1), flags, output, 'tokens-revoke', async (ds) => {
        const d = ds[0]!;
        const entries = await readTokenEntries(d);
        if (!entries.some((t) => t.name === name)) throw new TokensError(`there is no token "${name}" on ${d.hostName} (tokens: ${entries.map((t) => t.name).join(', ') || 'none'})`);
        const left = entries.filter((t) => t.name !== name);
        await output.step('write', `Revoke token ${name}`, async () => {
          await eachDeployment(ds, (x) => writeTokenEntries(x, left));
          return { status: 'done' as const, detail: `${left.length} token(s) left` };
        });
        if (output.json) output.event('result', { revoked: name, tokens: left.map((t) => t.name) });
        else process.stderr.write(`${chalk.green('✔')} ${name} can no longer sign in to ${publicUrl(d.settings)} (the registry re-reads its tokens within a second)\n`);
      });
    }),
  );
  return tokens;
}
