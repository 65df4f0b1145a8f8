import dns from 'node:dns/promises';
import { assessPreflight, preflightCommands, type PreflightReport } from '../provision/index.js';
import type { DeploySettings } from '../settings/settings.js';
import type { Executor } from './executor.js';

export class PreflightFailed extends Error {}

/** Read-only look at the host: refuses unsupported systems, taken ports, too little disk. */
export async function inspectHost(exec: Executor, settings: DeploySettings, project?: string): Promise<PreflightReport> {
  const report = assessPreflight(settings, await exec.probe(preflightCommands(settings, project)));
  if (report.errors.length) throw new PreflightFailed(report.errors.join('; '));
  return report;
}

/**
 * Whether the domain points at this host, as seen from the laptop: a warning with the addresses
 * seen when it does not (the deploy still works when reached by the SSH address).
 */
export async function checkDomainResolution(
  exec: Executor,
  domain: string,
  sshHost: string,
): Promise<{ resolves: boolean; warning?: string; hostAddresses: string[] }> {
  const hostAddresses = new Set(await lookupAll(sshHost));
  const own = await exec.run(['hostname', '-I'], { allowFailure: true });
  for (const a of own.stdout.split(/\s+/).filter(Boolean)) hostAddresses.add(a);
  const seen = await lookupAll(domain);
  if (seen.length === 0) {
    return { resolves: false, hostAddresses: [...hostAddresses], warning: `${domain} does not resolve yet; create an A/AAAA record pointing at this server` };
  }
  if (seen.some((a) => hostAddresses.has(a))) return { resolves: true, hostAddresses: [...hostAddresses] };
  return {
    resolves: true,
    hostAddresses: [...hostAddresses],
    warning: `${domain} resolves to ${seen.join(', ')}, not to this server (${[...hostAddresses].join(', ') || sshHost}); clients will not reach this deployment until DNS points here`,
  };
}

async function lookupAll(name: string): Promise<string[]> {
  try {
    return (await dns.lookup(name, { all: true })).map((a) => a.address);
  } catch {
    return [];
  }
}
