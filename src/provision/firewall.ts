// ufw, the host firewall Ubuntu ships and many Debian servers enable. Docker's published ports are
// forwarded by Docker's own iptables rules, which come before ufw's, so the registry answers either
// way; deploy still opens its two ports in ufw, so the firewall says what is reachable and the stack
// keeps working on an engine run without its iptables rules. The rules carry a comment naming the
// deployment, so destroy removes exactly those and never a rule the user wrote.
import type { Argv } from './step.js';

/** `ufw status` as root; exit 127 when ufw is not installed (a fact, not a failure). */
export const UFW_STATUS_ARGV: Argv = ['sh', '-c', 'command -v ufw >/dev/null 2>&1 || exit 127; exec ufw status'];

export interface UfwState {
  active: boolean;
  /** TCP ports allowed to anyone, from any rule ("80/tcp", "443", "80,443/tcp" …) */
  allowedTcpPorts: Set<number>;
}

/** Parses `ufw status`; undefined when ufw is not installed or did not answer. */
export function parseUfwStatus(result: { code: number | null; stdout: string }): UfwState | undefined {
  if (result.code !== 0) return undefined;
  const active = /^Status:\s*active\b/m.test(result.stdout);
  const allowedTcpPorts = new Set<number>();
  for (const line of result.stdout.split(/\r?\n/)) {
    // To  Action  From; "To" may be "80/tcp", "443", "80,443/tcp", "8000:8010/tcp" or an address + port
    const m = /^(\S+)(?: \(v6\))?\s+ALLOW(?: IN)?\s+Anywhere/.exec(line);
    if (!m) continue;
    const [ports, proto] = m[1]!.split('/');
    if (proto && proto !== 'tcp') continue;
    for (const part of ports!.split(',')) {
      const range = /^(\d+)(?::(\d+))?$/.exec(part);
      if (!range) continue;
      const first = Number(range[1]);
      const last = range[2] ? Number(range[2]) : first;
      for (let p = first; p <= last && p - first < 65536; p += 1) allowedTcpPorts.add(p);
    }
  }
  return { active, allowedTcpPorts };
}

/** The comment on our rules: one per deployment (compose project, so [a-z0-9_-] only) on a machine. */
export function ufwRuleComment(project: string): string {
  return `registry-setup ${project}`;
}

/** argv that allow the ports ufw does not allow yet. */
export function ufwAllowArgv(state: UfwState, ports: readonly number[], project: string): Argv[] {
  return [...new Set(ports)].filter((p) => !state.allowedTcpPorts.has(p)).map((p) => ['ufw', 'allow', `${p}/tcp`, 'comment', ufwRuleComment(project)]);
}

/**
 * Deletes every ufw rule carrying our comment (rule numbers shift after each delete, so one at a
 * time, bounded); prints each deleted rule. A host without ufw has nothing to delete.
 */
export function ufwRemoveArgv(project: string): Argv {
  const script = [
    'command -v ufw >/dev/null 2>&1 || exit 0',
    'i=0',
    'while [ "$i" -lt 64 ]; do',
    '  line=$(ufw status numbered | grep -E "# $1[[:space:]]*\$" | head -n 1)',
    '  [ -n "$line" ] || exit 0',
    '  n=$(printf "%s\\n" "$line" | sed -n "s/^\\[ *\\([0-9][0-9]*\\)\\].*/\\1/p")',
    '  [ -n "$n" ] || exit 1',
    '  ufw --force delete "$n" >/dev/null || exit 1',
    '  printf "%s\\n" "$line"',
    '  i=$((i + 1))',
    'done',
  ].join('\n');
  return ['sh', '-c', script, 'sh', ufwRuleComment(project)];
}
