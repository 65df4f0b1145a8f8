import { Command } from 'commander';
import { withDeployments, type DeploymentFlags } from '../ops/deployment.js';
import { checkAccess, effectivePermissions, formatPermissions, readHostAccess, unknownUserNote, AccessError } from '../ops/access.js';
import { Output } from '../console/output.js';
import { addDeploymentOptions } from './host-options.js';

const TARGETS_HELP = "user@host[:port] or a Host alias from ~/.ssh/config (none for the --config file's); several hosts share one policy, read from the first";

/**
 * `access show|check`: what the host's registry allows, read from its policy and tokens files and
 * decided by the registry's own code. (The policy itself is edited in registry-setup.yaml's
 * `access:` and deployed.)
 */
export function accessCommand(): Command {
  const access = new Command('access').description("who may do what on the registry: the deployed access policy (edit access: in registry-setup.yaml, then deploy)");

  access.addCommand(
    addDeploymentOptions(
      new Command('show').description('effective permissions per repository glob and user (anonymous, users, CI tokens; groups expanded)').argument('[targets...]', TARGETS_HELP),
    ).action(async (targets: string[], flags: DeploymentFlags) => {
      const output = new Output({ json: flags.json });
      await withDeployments(targets, flags, output, 'access-show', async (ds) => {
        const host = await readHostAccess(ds[0]!);
        const rows = effectivePermissions(host);
        if (output.json) {
          for (const r of rows) output.event('permission', { ...r });
          output.event('result', { policy: host.policy !== undefined, globs: host.policy?.patterns ?? [], users: host.users, tokens: host.tokens.names, permissions: rows });
        } else process.stdout.write(formatPermissions(host, rows));
      });
    }),
  );

  access.addCommand(
    addDeploymentOptions(
      new Command('check')
        .description('whether USER may do ACTION (read, create, update, delete) on REPO, and which rule decides; USER - is a request without credentials. Exits 0 allowed, 1 denied')
        .usage('[targets...] <user> <repo> <action> [options]')
        .argument('[args...]', 'the target(s) (none for the --config file\'s), then USER REPO ACTION'),
    ).action(async (args: string[], flags: DeploymentFlags) => {
      if (args.length < 3) throw new AccessError('give USER REPO ACTION: registry-setup access check [targets...] <user> <repo> <action>');
      const [user, repository, action] = args.slice(-3) as [string, string, string];
      const output = new Output({ json: flags.json });
      const answer = await withDeployments(args.slice(0, -3), flags, output, 'access-check', async (ds) => {
        const host = await readHostAccess(ds[0]!);
        const result = checkAccess(host, user, repository, action);
        return { result, note: unknownUserNote(host, result.user) };
      });
      const { result, note } = answer;
      if (output.json) output.event('result', { ...result, ...(note ? { note } : {}) });
      else {
        const whom = result.user === null ? 'anonymous requests' : result.user;
        process.stdout.write(`${result.allowed ? 'allowed' : 'denied'}: ${whom} ${result.allowed ? 'may' : 'may not'} ${result.action} ${result.repository}\n  decided by ${result.rule}\n`);
        if (note) process.stderr.write(`${note}\n`);
      }
      process.exitCode = result.allowed ? 0 : 1;
    }),
  );
  return access;
}
