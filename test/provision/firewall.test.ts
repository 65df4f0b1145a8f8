// ufw: what deploy reads, the rules it adds (only for ports not allowed yet, commented with the
// deployment), and the script destroy runs to take exactly those out again — run for real against a
// stand-in `ufw` that keeps numbered rules the way ufw prints them.
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Executor } from '../../src/deploy/executor.js';
import { openFirewall } from '../../src/deploy/firewall.js';
import { parseUfwStatus, ufwAllowArgv, ufwRemoveArgv, UFW_STATUS_ARGV } from '../../src/provision/index.js';
import type { ExecResult, RemoteHost } from '../../src/remote/index.js';
import { run } from '../helpers/exec.js';
import { TempDirs } from '../helpers/tmp.js';

const ACTIVE = `Status: active

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW       Anywhere
443                        ALLOW       Anywhere                   # someone's
8000:8010/tcp              ALLOW       Anywhere
9000/udp                   ALLOW       Anywhere
5432/tcp                   ALLOW       10.0.0.0/8
22/tcp (v6)                ALLOW       Anywhere (v6)
`;

describe('ufw status', () => {
  test('active, with the TCP ports anyone may reach', () => {
    const s = parseUfwStatus({ code: 0, stdout: ACTIVE })!;
    assert.equal(s.active, true);
    assert.deepEqual([...s.allowedTcpPorts].sort((a, b) => a - b), [22, 443, 8000, 8001, 8002, 8003, 8004, 8005, 8006, 8007, 8008, 8009, 8010]);
  });
  test('inactive; not installed', () => {
    assert.equal(parseUfwStatus({ code: 0, stdout: 'Status: inactive\n' })!.active, false);
    assert.equal(parseUfwStatus({ code: 127, stdout: '' }), undefined);
    assert.deepEqual(UFW_STATUS_ARGV.slice(0, 2), ['sh', '-c']);
  });
  test('only the ports not allowed yet get a rule, commented with the deployment', () => {
    const s = parseUfwStatus({ code: 0, stdout: ACTIVE })!;
    assert.deepEqual(ufwAllowArgv(s, [80, 443], 'registry-setup'), [['ufw', 'allow', '80/tcp', 'comment', 'registry-setup registry-setup']]);
    assert.deepEqual(ufwAllowArgv(s, [8005, 22], 'x'), []);
  });
});

function recordingHost() {
  const ran: string[] = [];
  const host = {
    async exec(argv: readonly string[]): Promise<ExecResult> {
      ran.push(argv.join(' '));
      return { code: 0, stdout: '', stderr: '' };
    },
  };
  return { host: host as unknown as RemoteHost, ran };
}

describe('openFirewall (the deploy step)', () => {
  const settings = { httpPort: 80, httpsPort: 443, composeProject: 'rs-a' };
  test('active ufw: allows what is missing and says so', async () => {
    const { host, ran } = recordingHost();
    const r = await openFirewall(new Executor(host, false), parseUfwStatus({ code: 0, stdout: ACTIVE })!, settings);
    assert.deepEqual(ran, ['ufw allow 80/tcp comment registry-setup rs-a']);
    assert.deepEqual(r, { status: 'done', detail: 'ufw is active: allowed 80/tcp (rules commented "registry-setup rs-a"; destroy removes them)' });
  });
  test('dry run: says what it would allow, runs nothing', async () => {
    const { host, ran } = recordingHost();
    const r = await openFirewall(new Executor(host, true), parseUfwStatus({ code: 0, stdout: 'Status: active\n' })!, settings);
    assert.deepEqual(ran, []);
    assert.deepEqual(r, { status: 'planned', detail: 'ufw is active: allow 80/tcp and 443/tcp' });
  });
  test('inactive ufw: nothing changes, the advice names the ports', async () => {
    const { host, ran } = recordingHost();
    const r = await openFirewall(new Executor(host, false), parseUfwStatus({ code: 0, stdout: 'Status: inactive\n' })!, settings);
    assert.deepEqual(ran, []);
    assert.equal(r.status, 'skipped');
    assert.match(r.detail, /not active; if you enable it, allow 80 and 443\/tcp and SSH first/);
  });
});

// A stand-in ufw: rules in a file, one per line; `status numbered` prints them as ufw does.
const FAKE_UFW = `#!/bin/sh
rules="$UFW_RULES"
case "$1 $2" in
  "status numbered")
    echo "Status: active"; echo; echo "     To                         Action      From"; echo "     --                         ------      ----"
    n=0; while IFS= read -r r; do n=$((n+1)); printf '[%2d] %s\\n' "$n" "$r"; done < "$rules";;
  "--force delete")
    awk -v n="$3" 'NR != n' "$rules" > "$rules.new" && mv "$rules.new" "$rules";;
  *) echo "unexpected: $*" >&2; exit 2;;
esac
`;

describe('ufwRemoveArgv (destroy)', () => {
  const tmp = new TempDirs();
  after(() => tmp.cleanup());

  test('deletes every rule with our comment and no other', async () => {
    const dir = await tmp.make('rs-ufw-');
    await writeFile(join(dir, 'ufw'), FAKE_UFW);
    await chmod(join(dir, 'ufw'), 0o755);
    const rules = join(dir, 'rules');
    await writeFile(
      rules,
      [
        '22/tcp                     ALLOW IN    Anywhere',
        '80/tcp                     ALLOW IN    Anywhere                   # registry-setup rs-a',
        '443/tcp                    ALLOW IN    Anywhere                   # registry-setup rs-b',
        '443/tcp                    ALLOW IN    Anywhere                   # registry-setup rs-a',
        '80/tcp (v6)                ALLOW IN    Anywhere (v6)              # registry-setup rs-a',
        '8080/tcp                   ALLOW IN    Anywhere                   # mine',
        '8443/tcp                   ALLOW IN    Anywhere                   # registry-setup rs-ab',
        '',
      ].join('\n'),
    );
    const argv = ufwRemoveArgv('rs-a');
    const r = await run(argv[0]!, argv.slice(1), { env: { PATH: `${dir}:${process.env.PATH}`, UFW_RULES: rules }, timeoutMs: 30_000 });
    assert.equal(r.stdout.trim().split('\n').length, 3, r.stdout);
    assert.deepEqual((await readFile(rules, 'utf8')).trim().split('\n').map((l) => l.split(/\s+/)[0] + (l.includes('#') ? ` ${l.slice(l.indexOf('#'))}` : '')), [
      '22/tcp',
      '443/tcp # registry-setup rs-b',
      '8080/tcp # mine',
      '8443/tcp # registry-setup rs-ab',
    ]);
    // nothing left of ours: a second run is a no-op
    const again = await run(argv[0]!, argv.slice(1), { env: { PATH: `${dir}:${process.env.PATH}`, UFW_RULES: rules }, timeoutMs: 30_000 });
    assert.equal(again.stdout, '');
  });
});
