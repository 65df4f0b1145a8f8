// A host as an operator of a restricted network sees it, through the real CLI on the loopback deploy
// bed: base images the host cannot pull are sent from "this machine" (--send-images), day-2 commands
// find a deployment outside the default directory, and a non-root login whose sudo needs a password
// gets it from a file or stdin (--sudo-password-file) without it ever showing in `ps` or the log.
//
// "This machine's Docker" is a `docker` on the CLI's PATH that answers `image inspect` and `save`
// from tarballs saved before the images were removed from the engine (the host's engine is this
// machine's too): what `docker load` receives on the host is a real `docker save` stream.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { execa, type Result } from 'execa';
import { jsonEvents, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { TempDirs } from '../helpers/tmp.js';

function skipReason(): string | undefined {
  const sshd = sshdSkipReason();
  if (sshd) return sshd;
  const missing = ['/usr/bin/sudo', '/usr/sbin/useradd', '/usr/sbin/chpasswd', '/usr/sbin/userdel', '/usr/sbin/visudo'].filter((p) => !existsSync(p));
  if (missing.length === 0) return undefined;
  const reason = `missing ${missing.join(', ')} (apt-get install sudo passwd)`;
  if (process.env.CI) throw new Error(`CI: ${reason}`);
  return reason;
}

const DEFAULT_DIR = '/opt/registry-setup';
const PASSWORD = 'e2e-restricted-password-1';
const tarName = (image: string) => `${image.replace(/[/:]/g, '_')}.tar`;

describe('a restricted host: images sent from here, a sudo password from a file, a deployment found', { skip: skipReason() ?? false }, () => {
  const tmp = new TempDirs();
  const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const nodeCopy = `rs-send-${tag}/node:20`;
  const nginxCopy = `rs-send-${tag}/nginx:1`;
  const fakeProject = `rs-fake-${tag}`;
  const pwUser = `rssp${randomBytes(3).toString('hex')}`;
  const sudoPassword = `Sp-${randomBytes(9).toString('hex')}`;
  const sudoers = `/etc/sudoers.d/rs-e2e-${pwUser}`;
  let bed: DeployBed;
  let work = '';
  let bin = '';
  let calls = '';
  let userCreated = false;
  let context = '';

  before(async () => {
    bed = await startDeployBed('restricted');
    work = await tmp.make('rs-restricted-');
    bin = await tmp.make('rs-restricted-bin-');
    calls = path.join(work, 'docker-calls');
    writeFileSync(calls, '');
    for (const [standin, copy] of [[bed.nodeImage, nodeCopy], [bed.nginxImage, nginxCopy]] as const) {
      await execa('docker', ['tag', standin, copy]);
      await execa('docker', ['save', '-o', path.join(work, tarName(copy)), copy]);
      await execa('docker', ['rmi', copy]);
    }
    // this machine's Docker: the images saved above, nothing else
    writeFileSync(
      path.join(bin, 'docker'),
      [
        '#!/bin/sh',
        `printf '%s\\n' "$*" >> '${calls}'`,
        'case "$1 $2" in',
        '  "image inspect") image=$5 ;;',
        '  save*) image=$2 ;;',
        '  *) echo "unexpected local docker command: $*" >&2; exit 2 ;;',
        'esac',
        `tar="${work}/$(printf %s "$image" | tr '/:' '__').tar"`,
        '[ -f "$tar" ] || { echo "Error response from daemon: No such image: $image" >&2; exit 1; }',
        // an image whose save breaks off: a part of the tarball, then an error
        '[ "$1" = save ] && case "$image" in *failing*) head -c 100000 "$tar"; echo "simulated: write error" >&2; exit 1 ;; esac',
        '[ "$1" = save ] && exec cat "$tar"',
        'stat -c %s "$tar"',
        '',
      ].join('\n'),
    );
    chmodSync(path.join(bin, 'docker'), 0o755);
  });

  after(async () => {
    await bed?.cleanup();
    await execa('docker', ['rm', '-f', fakeProject], { reject: false });
    await execa('docker', ['rmi', nodeCopy, nginxCopy], { reject: false });
    await rm(sudoers, { force: true });
    if (userCreated) await execa('userdel', ['-r', '-f', pwUser], { reject: false });
    await tmp.cleanup();
  });

  const cli = async (args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<Result> => {
    const r = await bed.cli(args, { env: { PATH: `${bin}:${process.env.PATH}`, ...opts.env }, ...(opts.input !== undefined ? { input: opts.input } : {}) });
    context = `registry-setup ${args.join(' ')}\nexit ${r.exitCode}\nstderr:\n${String(r.stderr).split('\n').slice(-30).join('\n')}`;
    return r;
  };
  /** bed.deployArgs with other values for some flags */
  const deployArgs = (over: Record<string, string>, extra: string[] = []) => {
    const args = bed.deployArgs();
    for (const [flag, value] of Object.entries(over)) {
      const at = args.indexOf(flag);
      if (flag === 'target') args[1] = value;
      else if (at < 0) args.push(flag, value);
      else args[at + 1] = value;
    }
    return [...args, ...extra];
  };
  const hasImage = async (image: string) => (await execa('docker', ['image', 'inspect', image], { reject: false })).exitCode === 0;
  const errorLines = (r: Result) => String(r.stderr).split('\n').filter((l) => l.startsWith('registry-setup: '));

  it('--send-images: an image missing here, or no docker here, is one line before the host changes', async () => {
    const dir = path.join(work, 'never-created');
    let r = await cli(deployArgs({ '--dir': dir, '--node-image': `rs-missing-${tag}:1` }, ['--send-images']));
    assert.equal(r.exitCode, 1, context);
    assert.deepEqual(errorLines(r), [`registry-setup: --send-images: rs-missing-${tag}:1 is not in this machine's Docker; pull it here first (docker pull rs-missing-${tag}:1)`]);
    r = await cli(deployArgs({ '--dir': dir }, ['--send-images']), { env: { PATH: path.join(work, 'no-such-bin') } });
    assert.equal(r.exitCode, 1, context);
    assert.match(errorLines(r).join('\n'), /^registry-setup: --send-images sends the base images from this machine's Docker, but there is no docker command here/);
    assert.ok(!existsSync(dir), 'nothing was written on the host');
  });

  it('deploy --send-images sends the images the host lacks over SSH, and a re-run sends nothing', async () => {
    assert.ok(!(await hasImage(nodeCopy)) && !(await hasImage(nginxCopy)), 'the host starts without the images');
    const args = deployArgs({ '--node-image': nodeCopy, '--nginx-image': nginxCopy }, ['--send-images', '--password-stdin', '--json']);
    let r = await cli(args, { input: PASSWORD });
    assert.equal(r.exitCode, 0, context);
    let events = jsonEvents(String(r.stdout));
    const step = events.find((e) => e.type === 'step-end' && e.id === 'images');
    assert.equal(step?.status, 'done', JSON.stringify(step));
    assert.match(String(step?.detail), new RegExp(`^sent ${nodeCopy} \\(.+\\), ${nginxCopy} \\(.+\\)$`));
    const progress = events.filter((e) => e.type === 'progress' && e.id === 'images').map((e) => String(e.message));
    assert.ok(progress.some((m) => new RegExp(`^${nodeCopy}: .+ of ~.+ sent$`).test(m)), `progress shows the bytes sent: ${progress.join(' | ')}`);
    assert.ok((await hasImage(nodeCopy)) && (await hasImage(nginxCopy)), 'the host has both images now');
    const saves = readFileSync(calls, 'utf8').split('\n').filter((l) => l.startsWith('save '));
    assert.deepEqual(saves.sort(), [`save ${nginxCopy}`, `save ${nodeCopy}`]);
    const verify = events.find((e) => e.type === 'step-end' && e.id === 'verify');
    assert.match(String(verify?.detail), /push and pull ok/, 'the stack built on the sent images works');
    const recorded = JSON.parse(readFileSync(path.join(bed.installDir, 'registry-setup.json'), 'utf8')) as { settings: Record<string, unknown> };
    assert.equal(recorded.settings.sendImages, true);

    r = await cli(deployArgs({ '--node-image': nodeCopy, '--nginx-image': nginxCopy }, ['--send-images', '--json']));
    assert.equal(r.exitCode, 0, context);
    events = jsonEvents(String(r.stdout));
    assert.deepEqual(
      events.filter((e) => e.type === 'step-end' && e.id === 'images').map((e) => [e.status, e.detail]),
      [['unchanged', 'the host has them']],
    );
    assert.equal(readFileSync(calls, 'utf8').split('\n').filter((l) => l.startsWith('save ')).length, 2, 'nothing was sent again');
  });

  it('a docker save that breaks off here, or a docker load that fails there, stops deploy with one line', async () => {
    const failing = `rs-send-${tag}/failing:1`;
    const garbage = `rs-send-${tag}/garbage:1`;
    writeFileSync(path.join(work, tarName(failing)), readFileSync(path.join(work, tarName(nodeCopy))));
    writeFileSync(path.join(work, tarName(garbage)), randomBytes(200_000));
    const dir = path.join(work, 'failed-send');
    let r = await cli(deployArgs({ '--dir': dir, '--node-image': failing, '--nginx-image': nginxCopy }, ['--send-images']));
    assert.equal(r.exitCode, 1, context);
    assert.match(errorLines(r).join('\n'), new RegExp(`^registry-setup: Send the base images from here: --send-images: docker save ${failing} failed on this machine: simulated: write error$`));
    r = await cli(deployArgs({ '--dir': dir, '--node-image': garbage, '--nginx-image': nginxCopy }, ['--send-images']));
    assert.equal(r.exitCode, 1, context);
    assert.match(errorLines(r)[0]!, new RegExp(`^registry-setup: Send the base images from here: command on root@127\\.0\\.0\\.1:\\d+ exited with code 1: docker load of ${garbage.replace(/[./]/g, '\\$&')} \\([\\d.]+ \\w+ sent from here\\)`));
    assert.ok(!(await hasImage(failing)) && !(await hasImage(garbage)));
    assert.ok(!existsSync(path.join(dir, 'compose.yaml')), 'deploy stopped before writing the deployment');
  });

  it('day-2 commands without --dir find the deployment: the only one is used, several are listed', async () => {
    const empty = !existsSync(DEFAULT_DIR) || readdirSync(DEFAULT_DIR).length === 0;
    assert.ok(empty, `${DEFAULT_DIR} on this machine must be missing or empty for this test`);
    const base = ['status', bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath];
    let r = await cli([...base, '--compose-project', bed.project]);
    assert.equal(r.exitCode, 0, context);
    assert.match(String(r.stderr), new RegExp(`^No deployment in ${DEFAULT_DIR}; using the one in ${bed.installDir} \\(found on the host; --dir ${bed.installDir} skips the search\\)$`, 'm'));
    assert.match(String(r.stdout), /registry/i);

    // a second deployment on the machine: a stopped container with compose's labels beside a record
    const other = await tmp.make('rs-restricted-other-');
    writeFileSync(path.join(other, 'registry-setup.json'), readFileSync(path.join(bed.installDir, 'registry-setup.json')));
    await execa('docker', [
      'create', '--name', fakeProject,
      '--label', `com.docker.compose.project=${fakeProject}`,
      '--label', `com.docker.compose.project.working_dir=${other}`,
      '--label', `com.docker.compose.project.config_files=${other}/compose.yaml`,
      bed.nginxImage, 'true',
    ]);
    r = await cli(base);
    assert.equal(r.exitCode, 1, context);
    const [line, ...rest] = errorLines(r);
    assert.deepEqual(rest, []);
    assert.match(line!, new RegExp(`^registry-setup: no registry-setup deployment in ${DEFAULT_DIR} on 127\\.0\\.0\\.1, but \\d+ elsewhere: pass --dir `));
    // other deployments may run on a shared machine: ours must both be listed
    for (const dir of [bed.installDir, other]) assert.ok(line!.includes(`--dir ${dir}`), `${dir} listed: ${line}`);
    r = await cli([...base, '--compose-project', bed.project]);
    assert.equal(r.exitCode, 0, `the project narrows it to one again\n${context}`);
    r = await cli([...base, '--dir', path.join(work, 'empty-dir')]);
    assert.equal(r.exitCode, 1);
    assert.deepEqual(errorLines(r), [`registry-setup: no registry-setup deployment found in ${path.join(work, 'empty-dir')} on 127.0.0.1; run registry-setup deploy first`], 'a given --dir is never searched past');
  });

  it('--sudo-password-file: a non-root login whose sudo needs a password deploys and runs status; the password is never in ps or the log', async () => {
    await execa('useradd', ['-m', '-s', '/bin/bash', pwUser]);
    userCreated = true;
    await execa('chpasswd', [], { input: `${pwUser}:${sudoPassword}\n` });
    writeFileSync(sudoers, `${pwUser} ALL=(ALL) ALL\n`, { mode: 0o440 });
    await execa('visudo', ['-c', '-f', sudoers]);
    await bed.sshd.authorize(pwUser, bed.sshd.clientPublicKey);
    const target = bed.sshd.target(pwUser);
    const file = path.join(work, 'sudo-password');
    writeFileSync(file, `${sudoPassword}\n`, { mode: 0o600 });
    const logs = path.join(bed.home, '.registry-setup', 'logs');
    const before = new Set(existsSync(logs) ? readdirSync(logs) : []);

    /** runs the CLI while sampling every process's arguments on this machine (the host) */
    const sampled = async (args: string[], input?: string) => {
      const running = cli(args, input === undefined ? {} : { input });
      let done = false;
      void running.finally(() => (done = true));
      const ps = { samples: 0, sudoWithPassword: 0, leaked: [] as string[] };
      const deadline = Date.now() + 5 * 60_000;
      for (let i = 0; i < 20_000 && !done && Date.now() < deadline; i++) {
        const lines = (await execa('ps', ['-eo', 'args'])).stdout.split('\n');
        ps.samples++;
        if (lines.some((l) => /sudo -S -p \[sudo-password:/.test(l))) ps.sudoWithPassword++;
        ps.leaked.push(...lines.filter((l) => l.includes(sudoPassword)));
      }
      return { r: await running, ps };
    };

    // deploy as that user, the password on stdin: the same deployment again
    let { r, ps } = await sampled(deployArgs({ target, '--node-image': nodeCopy, '--nginx-image': nginxCopy }, ['--sudo-password-file', '-']), `${sudoPassword}\n`);
    assert.equal(r.exitCode, 0, context);
    assert.ok(ps.sudoWithPassword > 0, `ps was sampled while sudo with a password ran (${ps.samples} samples)`);
    assert.deepEqual(ps.leaked, [], 'the password is in no process argument');
    assert.ok(!`${r.stdout}${r.stderr}`.includes(sudoPassword));
    // status from the file
    ({ r, ps } = await sampled(['status', target, '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--compose-project', bed.project, '--sudo-password-file', file]));
    assert.equal(r.exitCode, 0, context);
    assert.ok(ps.sudoWithPassword > 0, `ps was sampled while sudo with a password ran (${ps.samples} samples)`);
    assert.deepEqual(ps.leaked, [], 'the password is in no process argument');
    assert.ok(!`${r.stdout}${r.stderr}`.includes(sudoPassword));

    const newLogs = readdirSync(logs).filter((f) => !before.has(f));
    assert.deepEqual(newLogs.map((f) => f.split('-')[0]).sort(), ['deploy', 'status']);
    for (const f of newLogs) {
      const text = readFileSync(path.join(logs, f), 'utf8');
      assert.match(text, /exit=0 \S+ \$ sudo true$/m, `${f}: the password was checked once sudo asked`);
      assert.match(text, /\$ sudo docker /, `${f}: the commands ran through sudo`);
      assert.ok(!text.includes(sudoPassword), `${f} holds the password`);
    }

    // a wrong password: one line naming the file, tried once
    const wrong = path.join(work, 'wrong-sudo-password');
    writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
    const statusArgs = ['status', target, '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--compose-project', bed.project];
    r = await cli([...statusArgs, '--sudo-password-file', wrong]);
    assert.equal(r.exitCode, 1);
    assert.match(errorLines(r)[0]!, new RegExp(`sudo on ${pwUser}@127\\.0\\.0\\.1:${bed.sshd.port} refused the password from --sudo-password-file ${wrong}; put the right password for ${pwUser} there$`));
    // no password and no terminal: the message names the flag and says the user once
    r = await cli(statusArgs);
    assert.equal(r.exitCode, 1);
    const [line] = errorLines(r);
    assert.match(line!, /needs a password and there is no terminal to ask for it: give it with --sudo-password-file FILE/);
    assert.doesNotMatch(line!, new RegExp(`${pwUser} on ${pwUser}@`));
  });
});
