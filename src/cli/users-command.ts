import { confirm } from '@inquirer/prompts';
import chalk from 'chalk';
import { Command } from 'commander';
import { publicUrl } from '../deploy/verify.js';
import { eachDeployment, withDeployments, type Deployment, type DeploymentFlags } from '../ops/deployment.js';
import { addDeploymentOptions } from './host-options.js';
import { checkUserName, readUsers, UsersError, waitAccepted, writeUsers } from '../ops/users.js';
import { generatePassword } from '../users/credentials.js';
import { checkStdinClaims, isInteractive, readStdinPassword } from '../session/connect.js';
import { Output, passwordLines, revealPassword } from '../console/output.js';

interface PasswordFlags extends DeploymentFlags {
  passwordStdin?: boolean;
}

const TARGETS_HELP = "user@host[:port] or a Host alias from ~/.ssh/config; several, or none for the --config file's";
const WITH_NAME_HELP = "the target(s) (user@host[:port] or ~/.ssh/config aliases; none for the --config file's), then the user name";

/** `[targets...] <name>`: the last word is the user name, the words before it the targets. */
function splitName(args: string[], command: string): { targets: string[]; name: string } {
  const usage = `registry-setup users ${command} [targets...] <name>`;
  const name = args.at(-1);
  if (name === undefined) throw new UsersError(`give the user name: ${usage}`);
  // '@' and ':' never occur in a user name: this is a target, and the name is missing
  if (/[@:]/.test(name)) throw new UsersError(`"${name}" looks like a target, not a user name; the name comes last: ${usage}`);
  return { targets: args.slice(0, -1), name };
}

/**
 * `users list|add|remove|rotate [targets...] …`: the registry's htpasswd users. Several hosts share
 * one file: it is read from the first host and written to all of them.
 */
export function usersCommand(): Command {
  const users = new Command('users').description("list, add, remove and rotate the registry's users (no restart needed; the same users on every host)");

  users.addCommand(
    addDeploymentOptions(new Command('list').description('list the registry users').argument('[targets...]', TARGETS_HELP)).action(
      async (targets: string[], flags: DeploymentFlags) => {
        const output = new Output({ json: flags.json });
        await withDeployments(targets, flags, output, 'users-list', async (ds) => {
          const names = (await readUsers(ds[0]!)).names;
          if (output.json) output.event('result', { users: names });
          else if (names.length === 0) process.stderr.write(`${ds[0]!.hostName}: the registry has no users (add one with registry-setup users add)\n`);
          else process.stdout.write(names.map((n) => `${n}\n`).join(''));
        });
      },
    ),
  );

  users.addCommand(
    addDeploymentOptions(
      new Command('add')
        .description('add a user; the password is generated (shown once) unless given with --password-stdin')
        .usage('[targets...] <name> [options]')
        .argument('[args...]', WITH_NAME_HELP)
        .option('--password-stdin', 'read the password from stdin instead of generating one'),
    ).action(async (args: string[], flags: PasswordFlags) => {
      await setPassword(splitName(args, 'add'), flags, 'add');
    }),
  );

  users.addCommand(
    addDeploymentOptions(
      new Command('rotate')
        .description("give a user a new password (generated and shown once, or --password-stdin); the old one stops working within a second")
        .usage('[targets...] <name> [options]')
        .argument('[args...]', WITH_NAME_HELP)
        .option('--password-stdin', 'read the new password from stdin instead of generating one'),
    ).action(async (args: string[], flags: PasswordFlags) => {
      await setPassword(splitName(args, 'rotate'), flags, 'rotate');
    }),
  );

  users.addCommand(
    addDeploymentOptions(
      new Command('remove')
        .description('remove a user (removing the last one asks first, or needs --yes)')
        .usage('[targets...] <name> [options]')
        .argument('[args...]', WITH_NAME_HELP),
    ).action(async (args: string[], flags: DeploymentFlags) => {
      const { targets, name } = splitName(args, 'remove');
      const output = new Output({ json: flags.json });
      await withDeployments(targets, flags, output, 'users-remove', async (ds) => {
        const d = ds[0]!;
        const file = await readUsers(d);
        if (!file.has(name)) throw new UsersError(`there is no user "${name}" on ${d.hostName} (users: ${file.names.join(', ') || 'none'})`);
        if (file.names.length === 1) await confirmLastUser(d, name, flags);
        file.remove(name);
        await output.step('write', `Remove user ${name}`, async () => {
          await eachDeployment(ds, (x) => writeUsers(x, file));
          return { status: 'done' as const, detail: `${file.names.length} user(s) left` };
        });
        if (output.json) output.event('result', { removed: name, users: file.names });
        else process.stderr.write(`${chalk.green('✔')} ${name} can no longer log in to ${publicUrl(d.settings)} (the registry re-reads its users within a second)\n`);
      });
    }),
  );
  return users;
}

async function confirmLastUser(d: Deployment, name: string, flags: DeploymentFlags): Promise<void> {
  const what = `"${name}" is the last user of ${publicUrl(d.settings)}: without users nobody can log in`;
  if (flags.yes) return;
  if (!isInteractive(flags)) throw new UsersError(`${what}; pass --yes to remove it anyway (or add another user first)`);
  const ok = await confirm({ message: `${what}. Remove it?`, default: false }, { output: process.stderr });
  if (!ok) throw new UsersError('nothing was changed');
}

async function setPassword({ targets, name }: { targets: string[]; name: string }, flags: PasswordFlags, mode: 'add' | 'rotate'): Promise<void> {
  const output = new Output({ json: flags.json });
  checkUserName(name);
  checkStdinClaims(flags);
  const given = flags.passwordStdin ? await readStdinPassword() : undefined;
  await withDeployments(targets, flags, output, `users-${mode}`, async (ds) => {
    const d = ds[0]!;
    const file = await readUsers(d);
    if (mode === 'add' && file.has(name)) {
      throw new UsersError(`user "${name}" already exists on ${d.hostName}; give it a new password with registry-setup users rotate`);
    }
    if (mode === 'rotate' && !file.has(name)) {
      throw new UsersError(`there is no user "${name}" on ${d.hostName} (users: ${file.names.join(', ') || 'none'}); add it with registry-setup users add`);
    }
    const password = given ?? generatePassword();
    file.set(name, password);
    let written = false;
    try {
      await output.step('write', mode === 'add' ? `Add user ${name}` : `New password for ${name}`, async () => {
        written = true; // from the first upload on, the new password may be in force somewhere
        await eachDeployment(ds, (x) => writeUsers(x, file));
        return { status: 'done' as const, detail: ds.length > 1 ? `auth/htpasswd replaced on ${ds.length} hosts` : `${d.path('auth/htpasswd')} replaced` };
      });
      await eachDeployment(ds, (x) =>
        x.output.step('check', `Check the ${mode === 'add' ? 'credentials' : 'new password'} at ${publicUrl(x.settings)}`, async () => {
          const r = await waitAccepted(x, name, password);
          if (r.result === 'rejected') throw new Error(`the registry did not accept the new password within 10 s (${r.detail}); see registry-setup logs ${x.host.label} --service registry`);
          if (r.result === 'unreachable' || r.result === 'throttled') x.output.warn(`${r.detail}; the user was changed on the host anyway`);
          return { status: 'skipped' as const, detail: r.result === 'accepted' ? 'accepted' : 'not checked' };
        }),
      );
    } catch (err) {
      // a generated password that may already be in force must not be lost with the error
      if (written && given === undefined) revealPassword(output, name, password, 'the command failed after writing it: it may be in force on some hosts; store it, or run users rotate again');
      throw err;
    }
    const registry = publicUrl(d.settings).replace(/^https:\/\//, '');
    if (output.json) {
      output.event('result', { user: name, action: mode === 'add' ? 'added' : 'rotated', ...(given === undefined ? { password } : {}), login: `docker login ${registry} -u ${name}` });
      return;
    }
    const err = process.stderr;
    err.write(`\n${chalk.green('✔')} ${mode === 'add' ? `User ${name} added` : `New password for ${name}`}: the ${mode === 'add' ? 'registry accepts it' : 'old one no longer works'}${ds.length > 1 ? ` on all ${ds.length} hosts` : ''}.\n`);
    if (given === undefined) err.write(passwordLines(name, password));
    err.write(`  Log in with:  docker login ${registry} -u ${name}\n`);
  });
}
