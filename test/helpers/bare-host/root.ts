// The root file system of a bare Debian host: `debootstrap --variant=minbase` plus systemd, sshd and
// sudo, imported into the local engine as an image. The image tag carries a hash of the recipe, so
// the ~1–3 min build happens once per machine (and once per CI run); every later host starts from it
// in seconds.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../exec.js';
import { removeDir } from '../tmp.js';

export type DebianSuite = 'trixie' | 'bookworm';

export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
export const ROOT_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'sudo', 'ca-certificates', 'curl', 'gnupg', 'iproute2', 'procps'];
/** the non-root login the bed creates; its sudo password is set per host */
export const ADMIN_USER = 'admin';
export const INIT_PATH = '/usr/local/sbin/bare-host-init';

// PID 1 of the container. Docker mounts /sys read-only and the cgroup tree read-only for an
// unprivileged container; systemd needs both writable before it starts.
const INIT_SCRIPT = `#!/bin/sh
# PID 1 of a bare-host test container: make /sys and the cgroup tree writable, then boot systemd.
set -e
mount -o remount,rw /sys
umount /sys/fs/cgroup 2>/dev/null || true
mount -t cgroup2 -o rw,nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
exec /sbin/init
`;

// Run inside the new root (chroot) once. Host keys and machine-id are made per host, not baked in.
const CUSTOMIZE_SCRIPT = `set -e
useradd --create-home --shell /bin/bash --groups sudo "$1"
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
apt-get clean
rm -rf /var/lib/apt/lists/*
`;

const RECIPE_VERSION = 1;

function recipe(suite: DebianSuite): string {
  return JSON.stringify({ RECIPE_VERSION, suite, mirror: DEBIAN_MIRROR, packages: ROOT_PACKAGES, init: INIT_SCRIPT, customize: CUSTOMIZE_SCRIPT, admin: ADMIN_USER });
}

export function rootImageTag(suite: DebianSuite): string {
  return `registry-setup-test/bare-debian:${suite}-${createHash('sha256').update(recipe(suite)).digest('hex').slice(0, 12)}`;
}

const BED_TOOLS = ['/usr/sbin/debootstrap', '/usr/bin/dpkg-deb', '/usr/bin/gpg', '/usr/bin/docker', '/usr/bin/skopeo', '/usr/bin/docker-registry', '/usr/bin/openssl', '/usr/bin/apt-get'];

/** Why the bare-host bed cannot run here, or undefined. Under CI a missing tool is an error. */
export function bareHostSkipReason(): string | undefined {
  let reason: string | undefined;
  if (process.getuid?.() !== 0) reason = 'the bare-host bed needs root (debootstrap, docker)';
  else {
    const missing = BED_TOOLS.filter((tool) => !existsSync(tool));
    if (missing.length > 0) reason = `${missing.join(', ')} missing (apt-get install debootstrap gnupg docker.io skopeo docker-registry openssl)`;
  }
  if (reason && process.env.CI) throw new Error(`CI: ${reason}`);
  return reason;
}

export interface RootTiming {
  tag: string;
  /** ms spent building; 0 when the image existed */
  builtMs: number;
}

/** The image of a freshly debootstrapped root for `suite`, built when missing. */
export async function ensureRootImage(suite: DebianSuite): Promise<RootTiming> {
  const tag = rootImageTag(suite);
  const existing = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', tag], { allowFailure: true, timeoutMs: 30_000 });
  if (existing.code === 0) return { tag, builtMs: 0 };
  const started = Date.now();
  // /var/tmp, not /tmp: ~200 MiB, and debootstrap needs device nodes and setuid bits intact
  const work = await mkdtemp(`/var/tmp/rs-bare-root-${suite}-`);
  try {
    const root = join(work, 'root');
    const bootstrap = await run('debootstrap', ['--variant=minbase', `--include=${ROOT_PACKAGES.join(',')}`, suite, root, DEBIAN_MIRROR], { timeoutMs: 15 * 60_000, allowFailure: true });
    if (bootstrap.code !== 0) {
      const log = await run('tail', ['-n', '40', join(root, 'debootstrap/debootstrap.log')], { allowFailure: true });
      throw new Error(`debootstrap ${suite} failed (exit ${bootstrap.code}):\n${bootstrap.stderr.slice(-3000)}\n${log.stdout}`);
    }
    // debootstrap leaves the root 0700: dbus and every non-root login fail on it
    await chmod(root, 0o755);
    await writeFile(join(root, INIT_PATH), INIT_SCRIPT, { mode: 0o755 });
    await run('chroot', [root, 'sh', '-c', CUSTOMIZE_SCRIPT, 'sh', ADMIN_USER], { timeoutMs: 120_000 });
    const tar = join(work, 'root.tar');
    await run('tar', ['--numeric-owner', '--xattrs', '-C', root, '-cf', tar, '.'], { timeoutMs: 10 * 60_000 });
    await run('docker', ['import', '--change', `CMD ["${INIT_PATH}"]`, '--change', 'ENV container=docker', '--change', `LABEL io.registry-setup.bare-root=${suite}`, tar, tag], { timeoutMs: 10 * 60_000 });
    return { tag, builtMs: Date.now() - started };
  } finally {
    await removeDir(work);
  }
}
