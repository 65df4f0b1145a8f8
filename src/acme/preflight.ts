// Checks made before any ACME request, so that a DNS or firewall mistake costs nothing (Let's
// Encrypt allows 5 failed authorizations per name per hour): every domain resolves (to the
// expected address, when known), and `http://<domain>/.well-known/acme-challenge/<token>` answers a
// token written through the ChallengeStore, as the CA's validation will.
import { randomBytes } from 'node:crypto';
import { Resolver, resolve4, resolve6 } from 'node:dns/promises';
import http from 'node:http';
import { isIP } from 'node:net';
import { ACME_CHALLENGE_PATH, type ChallengeStore } from './challenge-store.js';
import { PreflightError, type PreflightCheck } from './errors.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a name to its addresses; [] when it has none. Throws when the lookup itself fails. */
export type DomainResolver = (hostname: string) => Promise<ResolvedAddress[]>;

const NO_RECORD_CODES = new Set(['ENODATA', 'ENOTFOUND', 'NODATA', 'NOTFOUND']);

async function records(query: () => Promise<string[]>): Promise<string[]> {
  try {
    return await query();
  } catch (e) {
    if (NO_RECORD_CODES.has((e as NodeJS.ErrnoException).code ?? '')) return [];
    throw e;
  }
}

/**
 * A and AAAA records from the DNS servers of /etc/resolv.conf (not /etc/hosts, which the CA does
 * not see either).
 */
export const dnsResolver: DomainResolver = async (hostname) => {
  const [v4, v6] = await Promise.all([records(() => resolve4(hostname)), records(() => resolve6(hostname))]);
  return [...v4.map((address) => ({ address, family: 4 as const })), ...v6.map((address) => ({ address, family: 6 as const }))];
};

/**
 * A and AAAA records from the given DNS servers ("ip" or "ip:port", "[v6]:port"), e.g. a public
 * resolver, to see what the CA sees rather than a local cache.
 */
export function resolverFor(servers: readonly string[]): DomainResolver {
  const r = new Resolver({ timeout: 3_000, tries: 2 });
  r.setServers([...servers]);
  return async (hostname) => {
    const [v4, v6] = await Promise.all([records(() => r.resolve4(hostname)), records(() => r.resolve6(hostname))]);
    return [...v4.map((address) => ({ address, family: 4 as const })), ...v6.map((address) => ({ address, family: 6 as const }))];
  };
}

export interface PreflightOptions {
  domains: readonly string[];
  challengeStore: ChallengeStore;
  /** the port the CA validates on: 80 for real CAs (pebble: its httpPort) */
  httpPort?: number;
  /** this server's public addresses; each domain must resolve to at least one of them */
  expectedAddresses?: readonly string[];
  /**
   * Connect here for the HTTP check instead of the domain's resolved addresses: "host",
   * "host:port" or "[v6]:port" (the Host header stays the domain). For a check from behind NAT or
   * from inside the compose network (e.g. "nginx:8080").
   */
  connectTo?: string;
  resolver?: DomainResolver;
  /** per HTTP request (default 10 s) */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface PreflightReport {
  checks: PreflightCheck[];
  /** messages of checks that passed with a reservation */
  warnings: string[];
}

function canonicalIp(a: string): string {
  const bare = a.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 6) return new URL(`http://[${bare}]/`).hostname.replace(/^\[|\]$/g, '');
  return bare;
}

/** "host", "host:port", "[v6]" or "[v6]:port"; a bare IPv6 address is accepted too. */
export function parseConnectTo(value: string, defaultPort: number): { host: string; port: number } {
  const v = value.trim();
  if (isIP(v) === 6) return { host: v, port: defaultPort };
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(v);
  if (!m) throw new Error(`cannot parse ${JSON.stringify(value)} as host[:port]`);
  const port = m[3] ? Number(m[3]) : defaultPort;
  if (port < 1 || port > 65535) throw new Error(`bad port in ${JSON.stringify(value)}`);
  return { host: (m[1] ?? m[2])!, port };
}

interface HttpAnswer {
  status: number;
  body: string;
  location?: string;
}

function httpGet(host: string, port: number, hostHeader: string, path: string, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, path, method: 'GET', headers: { host: hostHeader, 'user-agent': 'registry-setup-preflight', accept: '*/*' }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 65536) chunks.push(c);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), location: res.headers.location }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

const LOCAL_NO_ROUTE = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/**
 * Runs the checks; resolves with the report when all pass, throws PreflightError listing every
 * failure otherwise. The test token is always removed again.
 */
export async function runPreflight(opts: PreflightOptions): Promise<PreflightReport> {
  const httpPort = opts.httpPort ?? 80;
  const resolver = opts.resolver ?? dnsResolver;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const expected = opts.expectedAddresses?.map(canonicalIp);
  const log = opts.log ?? (() => undefined);
  const checks: PreflightCheck[] = [];
  const add = (c: PreflightCheck): void => {
    checks.push(c);
    if (!c.ok) log(`preflight: FAILED: ${c.message}`);
    else if (c.warning) log(`preflight: warning: ${c.message}`);
  };
  const recordAdvice = (domain: string): string =>
    `create an A record (IPv4) and/or AAAA record (IPv6) for ${domain} pointing at this server${expected ? ` (${expected.join(', ')})` : ''}, then wait for DNS to propagate`;

  // 1. DNS
  const resolved = new Map<string, ResolvedAddress[]>();
  for (const domain of opts.domains) {
    let addrs: ResolvedAddress[];
    try {
      addrs = (await resolver(domain)).map((a) => ({ ...a, address: canonicalIp(a.address) }));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      add({ check: 'dns', domain, ok: false, message: `cannot resolve ${domain} (${code ?? (e as Error).message}): check the DNS records of ${domain} and this machine's DNS settings` });
      continue;
    }
    if (addrs.length === 0) {
      add({ check: 'dns', domain, ok: false, message: `${domain} does not resolve (no A or AAAA record): ${recordAdvice(domain)}` });
      continue;
    }
    const list = addrs.map((a) => a.address).join(', ');
    if (expected) {
      const matching = addrs.filter((a) => expected.includes(a.address));
      if (matching.length === 0) {
        add({ check: 'dns', domain, ok: false, message: `${domain} resolves to ${list}, not to this server (${expected.join(', ')}): update its A/AAAA records` });
        continue;
      }
      const others = addrs.filter((a) => !expected.includes(a.address));
      if (others.length > 0) {
        add({
          check: 'dns', domain, ok: true, warning: true,
          message: `${domain} also resolves to ${others.map((a) => a.address).join(', ')}, which is not this server (${expected.join(', ')}); the CA may validate through it (it prefers IPv6): remove or fix that record`,
        });
      } else {
        add({ check: 'dns', domain, ok: true, message: `${domain} resolves to ${list}` });
      }
    } else {
      add({ check: 'dns', domain, ok: true, message: `${domain} resolves to ${list}` });
    }
    resolved.set(domain, addrs);
  }

  // 2. HTTP, through the same path the CA will use
  const domainsToFetch = opts.domains.filter((d) => resolved.has(d));
  if (domainsToFetch.length > 0) {
    const token = `registry-setup-preflight-${randomBytes(12).toString('hex')}`;
    const content = `registry-setup preflight ${randomBytes(16).toString('hex')}`;
    const path = `${ACME_CHALLENGE_PATH}${token}`;
    const override = opts.connectTo ? parseConnectTo(opts.connectTo, httpPort) : undefined;
    let stored = false;
    try {
      try {
        await opts.challengeStore.put(token, content);
        stored = true;
      } catch (e) {
        add({ check: 'http', domain: domainsToFetch[0]!, ok: false, message: `cannot write the test token into the webroot: ${(e as Error).message}` });
      }
      if (stored) {
        for (const domain of domainsToFetch) {
          const url = `http://${domain}${httpPort === 80 ? '' : `:${httpPort}`}${path}`;
          const hostHeader = httpPort === 80 ? domain : `${domain}:${httpPort}`;
          const targets = override
            ? [{ host: override.host, port: override.port, family: isIP(override.host) === 6 ? 6 : 4 }]
            : resolved.get(domain)!.map((a) => ({ host: a.address, port: httpPort, family: a.family }));
          const failures: string[] = [];
          const warnings: string[] = [];
          let okCount = 0;
          for (const t of targets) {
            const via = `${t.family === 6 ? `[${t.host}]` : t.host}:${t.port}`;
            let answer: HttpAnswer;
            try {
              answer = await httpGet(t.host, t.port, hostHeader, path, timeoutMs);
            } catch (e) {
              const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
              const msg = `cannot connect to ${via} for ${url} (${code}): check that port ${httpPort} is open in the server's firewall and cloud security group, and that nginx is running`;
              if (t.family === 6 && !override && LOCAL_NO_ROUTE.has(code)) warnings.push(`could not test ${url} over IPv6 (${via}) from here (${code}); the CA will try IPv6 first: make sure it reaches this server`);
              else if (t.family === 6 && !override) warnings.push(`${msg} (the CA falls back to IPv4 when IPv6 does not connect, but fix it)`);
              else failures.push(msg);
              continue;
            }
            if (answer.status !== 200) {
              const where = answer.location ? ` redirecting to ${answer.location}` : '';
              failures.push(
                `${url} (via ${via}) answered HTTP ${answer.status}${where} instead of the test token: make sure nginx serves the webroot at ${ACME_CHALLENGE_PATH} on port ${httpPort} and that no other web server or proxy answers for ${domain}`,
              );
            } else if (answer.body.trimEnd() !== content) {
              failures.push(
                `${url} (via ${via}) answered with other content than the test token: another server answers for ${domain} on port ${httpPort} (an old DNS record, a CDN or proxy in front?)`,
              );
            } else {
              okCount++;
            }
          }
          if (okCount === 0 && failures.length === 0) failures.push(...warnings.splice(0));
          for (const f of failures) add({ check: 'http', domain, ok: false, message: f });
          for (const w of warnings) add({ check: 'http', domain, ok: true, warning: true, message: w });
          if (failures.length === 0) add({ check: 'http', domain, ok: true, message: `${url} serves the webroot` });
        }
      }
    } finally {
      if (stored) await opts.challengeStore.remove(token).catch((e: Error) => log(`preflight: could not remove the test token: ${e.message}`));
    }
  }

  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0) throw new PreflightError(failed);
  return { checks, warnings: checks.filter((c) => c.warning).map((c) => c.message) };
}
