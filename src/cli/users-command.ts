import { confirm } from '@inquirer/prompts';
import chalk from 'chalk';
import { Command } from 'commander';
import { publicUrl } from '../deploy/verify.js';
import { addDeploymentOptions, withDeployment, type Deployment, type DeploymentFlags } from '../ops/deployment.js';
import { checkUserName, readUsers, UsersError, waitAccepted, writeUsers } from '../ops/users.js';
import { generatePassword } from '../users/credentials.js';
import { isInteractive, readStdinSecret } from './host-session.js';
import { Output } from './output.js';

interface PasswordFlags extends DeploymentFlags {
  passwordStdin?: boolean;
}

const TARGET_HELP = 'user@host[:port] or a Host alias from ~/.ssh/config';

/** `users list|add|remove|rotate <target> …`: the registry's htpasswd users on the host. */
export function usersCommand(): Command {
  const users = new Command('users').description("list, add, remove and rotate the registry's users (no restart needed)");

  users.addCommand(
    addDeploymentOptions(new Command('list').description('list the registry users').argument('<target>', TARGET_HELP)).action(
      async (target: string, flags: DeploymentFlags) => {
        const output = new Output({ json: flags.json });
        await withDeployment(target, flags, output, 'users-list', async (d) => {
          const names = (await readUsers(d)).names;
          if (output.json) output.event('result', { users: names });
          else if (names.length === 0) process.stderr.write(`${d.hostName}: the registry has no users (add one with registry-setup users add)\n`);
          else process.stdout.write(names.map((n) => `${n}\n`).join(''));
        });
      },
    ),
  );

  users.addCommand(
    addDeploymentOptions(
      new Command('add')
        .description('add a user; the password is generated (shown once) unless given with --password-stdin')
        .argument('<target>', TARGET_HELP)
        .argument('<name>', 'user name (letters, digits, ".", "-", "_")')
        .option('--password-stdin', 'read the password from stdin instead of generating one'),
    ).action(async (target: string, name: string, flags: PasswordFlags) => {
      await setPassword(target, name, flags, 'add');
    }),
  );

  users.addCommand(
    addDeploymentOptions(
      new Command('rotate')
        .description("give a user a new password (generated and shown once, or --password-stdin); the old one stops working within a second")
        .argument('<target>', TARGET_HELP)
        .argument('<name>', 'user name')
        .option('--password-stdin', 'read the new password from stdin instead of generating one'),
    ).action(async (target: string, name: string, flags: PasswordFlags) => {
      await setPassword(target, name, flags, 'rotate');
    }),
  );

  users.addCommand(
    addDeploymentOptions(
      new Command('remove')
        .description('remove a user (removing the last one asks first, or needs --yes)')
        .argument('<target>', TARGET_HELP)
        .argument('<name>', 'user name'),
    ).action(async (target: string, name: string, flags: DeploymentFlags) => {
      const output = new Output({ json: flags.json });
      await withDeployment(target, flags, output, 'users-remove', async (d) => {
        const file = await readUsers(d);
        if (!file.has(name)) throw new UsersError(`there is no user "${name}" on ${d.hostName} (users: ${file.names.join(', ') || 'none'})`);
        if (file.names.length === 1) await confirmLastUser(d, name, flags);
        file.remove(name);
        await output.step('write', `Remove user ${name}`, async () => {
          await writeUsers(d, file);
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

async function setPassword(target: string, name: string, flags: PasswordFlags, mode: 'add' | 'rotate'): Promise<void> {
  const output = new Output({ json: flags.json });
  checkUserName(name);
  const given = flags.passwordStdin ? await readStdinSecret('--password-stdin') : undefined;
  await withDeployment(target, flags, output, `users-${mode}`, async (d) => {
    const file = await readUsers(d);
    if (mode === 'add' && file.has(name)) {
      throw new UsersError(`user "${name}" already exists on ${d.hostName}; give it a new password with registry-setup users rotate`);
    }
    if (mode === 'rotate' && !file.has(name)) {
      throw new UsersError(`there is no user "${name}" on ${d.hostName} (users: ${file.names.join(', ') || 'none'}); add it with registry-setup users add`);
    }
    const password = given ?? generatePassword();
    file.set(name, password);
    await output.step('write', mode === 'add' ? `Add user ${name}` : `New password for ${name}`, async () => {
      await writeUsers(d, file);
      return { status: 'done' as const, detail: `${d.path('auth/htpasswd')} replaced` };
    });
    await output.step('check', `Check the ${mode === 'add' ? 'credentials' : 'new password'} at ${publicUrl(d.settings)}`, async () => {
      const r = await waitAccepted(d, name, password);
      if (r.result === 'rejected') throw new Error(`the registry did not accept the new password within 10 s (${r.detail}); see registry-setup logs ${d.host.label} --service registry`);
      if (r.result === 'unreachable') output.warn(`${r.detail}; the user was changed on the host anyway`);
      return { status: 'skipped' as const, detail: r.result === 'accepted' ? 'accepted' : 'not checked' };
    });
    const registry = publicUrl(d.settings).replace(/^https:\/\//, '');
    if (output.json) {
      output.event('result', { user: name, action: mode === 'add' ? 'added' : 'rotated', ...(given === undefined ? { password } : {}), login: `docker login ${registry} -u ${name}` });
      return;
    }
    const err = process.stderr;
    err.write(`\n${chalk.green('✔')} ${mode === 'add' ? `User ${name} added` : `New password for ${name}`}: the ${mode === 'add' ? 'registry accepts it' : 'old one no longer works'}.\n`);
    if (given === undefined) err.write(`  Password for ${name} (shown only this once, store it now):\n\n    ${password}\n\n`);
    err.write(`  Log in with:  docker login ${registry} -u ${name}\n`);
  });
}
