// Pure: the commands of adopt's switch and of its rollback, and the record that links them. Every
// change adopt makes to the old stack is undone by one command here, from the record alone, so that
// `adopt --rollback` (or the automatic rollback after a failed proof) needs nothing but the record.
//
// Data in place: the registry runs as uid 1000 and nginx reads blobs as group 1000. adopt grants
// them access with POSIX ACLs (setfacl), not chown/chmod: the old stack's owner and mode stay as
// they are, so the old registry can come back on the same files. Default ACLs give the old owner
// (uid/gid of the data directory) the same access to what our registry writes meanwhile. The ACLs
// as they were (getfacl -R, owners included) are saved first and restored by rollback, which
// removes exactly the entries adopt added.
import { posix } from 'node:path';
import type { Argv } from '../provision/index.js';
import { aptGetArgv } from '../provision/docker.js';
import type { Step } from '../provision/step.js';
import type { AdoptDiscovery } from './adopt-discover.js';
import type { TagDigest } from './adopt-plan.js';

/** Under the install directory: the record and the ACL dump. */
export const ADOPT_STATE_DIR = 'state/adopt';
export const ADOPT_RECORD_FILE = 'record.json';
export const ACL_DUMP_FILE = 'data-acl.getfacl';
/** marks the cron lines adopt commented out (rollback removes exactly this prefix) */
export const CRON_MARK = '#disabled-by-registry-setup# ';

export interface AdoptRecord {
  version: 1;
  /** the old registry container and its data directory on the host */
  registry: { id: string; name: string; dataHostPath: string };
  /** the containers adopt stopped (not removed); rollback starts them again */
  stopped: { id: string; name: string }[];
  /** certbot's renewal that adopt disabled; rollback enables it again */
  certbot: { timers: string[]; cron: string[] };
  /** the host's nginx package served the registry: stopped by the switch, started by rollback */
  hostNginx?: boolean;
  /** the ACL dump of the data directory taken before the grant (relative to it) */
  aclDump: string;
  /** nginx's configuration as it was (`nginx -T`), for the person rolling back by hand */
  nginxConfig?: string;
  /** recorded tags → digests; after the switch each must resolve to the same digest */
  tags: TagDigest[];
}

const stateFile = (installDir: string, name: string) => posix.join(installDir, ADOPT_STATE_DIR, name);
export const adoptRecordPath = (installDir: string) => stateFile(installDir, ADOPT_RECORD_FILE);
export const aclDumpPath = (installDir: string) => stateFile(installDir, ACL_DUMP_FILE);

/** Pure: what adopt records before changing anything. */
export function buildAdoptRecord(d: AdoptDiscovery, installDir: string, tags: TagDigest[], nginxConfig?: string): AdoptRecord {
  const old = [d.registry, ...d.companions];
  return {
    version: 1,
    registry: { id: d.registry.id, name: d.registry.name, dataHostPath: d.registry.data.hostPath },
    stopped: old.map((c) => ({ id: c.id, name: c.name })),
    certbot: { timers: [...d.certbot.timers], cron: [...d.certbot.cron] },
    aclDump: aclDumpPath(installDir),
    ...(d.nginx?.kind === 'host' ? { hostNginx: true } : {}),
    ...(nginxConfig !== undefined ? { nginxConfig } : {}),
    tags,
  };
}

/** Pure: a record read back from the host, or a one-line reason it is not one. */
export function parseAdoptRecord(text: string): AdoptRecord | string {
  let v: Partial<AdoptRecord>;
  try {
    v = JSON.parse(text) as Partial<AdoptRecord>;
  } catch {
    return 'it is not JSON';
  }
  if (v?.version !== 1 || !v.registry?.dataHostPath || !Array.isArray(v.stopped) || !Array.isArray(v.tags) || !v.certbot || typeof v.aclDump !== 'string') {
    return 'it lacks the fields this version writes';
  }
  return v as AdoptRecord;
}

/** setfacl/getfacl on the host: the `acl` package when they are missing (Debian and Ubuntu name it so). */
export function aclToolsStep(): Step {
  return {
    id: 'acl-tools',
    name: 'Install setfacl (the acl package)',
    check: ['sh', '-c', 'command -v setfacl >/dev/null && command -v getfacl >/dev/null'],
    commands: [aptGetArgv('update'), aptGetArgv('install', '--no-install-recommends', 'acl')],
  };
}

/** Saves every ACL (and owner) under the data directory, relative to it, atomically (written beside, then renamed). */
export function aclDumpArgv(dataDir: string, dumpFile: string): Argv {
  return ['sh', '-c', 'set -e; umask 077; cd "$1"; getfacl -R -p -n . > "$2.tmp"; mv -f "$2.tmp" "$2"', 'sh', dataDir, dumpFile];
}

/** Grants `uid` read-write and its group read on the data directory, and the same by default to new files, also for the old owner. */
export function aclGrantArgv(dataDir: string, uid: number): Argv {
  const script = [
    'set -e',
    'o=$(stat -c %u "$1"); g=$(stat -c %g "$1")',
    'setfacl -R -m "u:$2:rwX,g:$2:rX" "$1"',
    'find "$1" -type d -exec setfacl -m "d:u:$2:rwX,d:g:$2:rX,d:u:$o:rwX,d:g:$g:rX" {} +',
  ].join('\n');
  return ['sh', '-c', script, 'sh', dataDir, String(uid)];
}

/**
 * Puts back the ACLs (and owners) of every file the dump lists; files written since keep theirs.
 * No dump: the switch stopped before taking it, so nothing was granted (rollback can be repeated).
 */
export function aclRestoreArgv(dataDir: string, dumpFile: string): Argv {
  return ['sh', '-c', '[ -f "$2" ] || exit 0; cd "$1" && setfacl --restore="$2"', 'sh', dataDir, dumpFile];
}

/** Comments out (with CRON_MARK) the lines of a cron file that run certbot; the file stays. */
export function cronDisableArgv(file: string): Argv {
  return ['sed', '-i', '-e', `/^[^#]*certbot/s/^/${CRON_MARK}/`, '--', file];
}

/** Removes CRON_MARK again: the lines as they were. */
export function cronEnableArgv(file: string): Argv {
  return ['sed', '-i', '-e', `s/^${CRON_MARK}//`, '--', file];
}

/** Pure: the changes to the old stack, in order (after the record is written and before deploy). */
export function switchArgvs(r: AdoptRecord, uid: number): Argv[] {
  return [
    aclDumpArgv(r.registry.dataHostPath, r.aclDump),
    aclGrantArgv(r.registry.dataHostPath, uid),
    ...r.certbot.timers.map((t) => ['systemctl', 'disable', '--now', t]),
    ...r.certbot.cron.map(cronDisableArgv),
    ...(r.stopped.length ? [['docker', 'stop', ...r.stopped.map((c) => c.id)]] : []),
    ...(r.hostNginx ? [['systemctl', 'stop', 'nginx']] : []),
  ];
}

/** Pure: undoes switchArgvs (our stack is stopped before these run, freeing the ports). */
export function rollbackArgvs(r: AdoptRecord): Argv[] {
  return [
    aclRestoreArgv(r.registry.dataHostPath, r.aclDump),
    ...r.certbot.cron.map(cronEnableArgv),
    ...r.certbot.timers.map((t) => ['systemctl', 'enable', '--now', t]),
    ...(r.hostNginx ? [['systemctl', 'start', 'nginx']] : []),
    ...(r.stopped.length ? [['docker', 'start', ...r.stopped.map((c) => c.id)]] : []),
  ];
}
