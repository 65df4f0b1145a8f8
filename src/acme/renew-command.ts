// `renew`: the host-side certificate renewal, run by the systemd timer inside the registry image:
//
//   node /app/registry.mjs renew --state-dir /acme --tls-dir /tls --webroot /webroot \
//        --domain registry.example.com --email ops@example.com [--directory URL | --staging] \
//        [--ca-file F] [--force] [--check-via nginx:8080] [--expect-address IP]... [--dns-server IP]
//        [--http-port 80] [--no-preflight] [--state-file F] [--tls-owner UID:GID] [--slot I/N]
//
// Contract (for the unit's shell):
// - stdout: exactly one line, `renewed` when a new certificate was installed in --tls-dir (first
//   issuance included) or an earlier one is still waiting for nginx to load it (`reload-pending`
//   beside the state file, which the unit removes after the reload), or `not-due` when the
//   installed one is valid, not due and loaded (nothing ordered).
//   Nothing else is ever printed on stdout.
// - exit status: 0 for both of those; 1 for any failure (preflight, validation, 429, lock held,
//   bad flag values...), with the last stderr line `renew: failed: <one-line reason>`; the
//   installed files are then untouched. (A missing or unknown flag is commander's own
//   `error: ...` line, also exit 1, via the entry point's CommanderError handling.)
// - stderr: progress lines prefixed `renew: ` (for the journal).
// - <state-dir>/renewal.json (or --state-file) records every run: lastAttempt, lastResult
//   ('renewed' | 'not-due' | 'failed'), error, serial, notAfter, issuer, names (for `certs status`).
// nginx runs in another container, so this command cannot reload it; the unit reloads it only after
// a renewal, e.g.:
//
//   out=$(docker compose -p registry-setup -f /opt/registry-setup/compose.yaml run --rm -T registry renew ...) || exit $?
//   if [ "$out" = renewed ]; then docker compose -p registry-setup -f /opt/registry-setup/compose.yaml exec -T nginx nginx -s reload; fi
//
// The private key keeps the owner of the existing privkey.pem when the command runs as root
// (nginx's uid must be able to read it); otherwise pass --tls-owner uid:gid (needs root) or run as
// that uid.
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { LocalChallengeStore } from './challenge-store.js';
import { resolveDirectoryUrl } from './directory.js';
import { oneLine } from './errors.js';
import type { FileOwner } from './fs-atomic.js';
import { obtainOrRenew } from './obtain.js';
import { resolverFor } from './preflight.js';
import { parseRenewalSlot } from './schedule.js';
import { LocalAcmeStateStore } from './state-store.js';

export interface RenewFlags {
  domain: string[];
  email?: string;
  directory?: string;
  staging?: boolean;
  caFile?: string;
  stateDir: string;
  stateFile?: string;
  tlsDir: string;
  webroot: string;
  force?: boolean;
  httpPort: string;
  checkVia?: string;
  expectAddress?: string[];
  dnsServer?: string[];
  preflight: boolean;
  tlsOwner?: string;
  pollIntervalMs?: string;
  /** `I/N`: this host is the I-th of N hosts that each order a certificate for the domain */
  slot?: string;
}

/** Where the command writes; injectable for tests. */
export interface RenewIo {
  out(text: string): void;
  err(text: string): void;
  setExitCode(code: number): void;
  now(): Date;
}

const defaultIo: RenewIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  setExitCode: (c) => {
    process.exitCode = c;
  },
  now: () => new Date(),
};

function parseOwner(value: string): FileOwner {
  const m = /^(\d+):(\d+)$/.exec(value.trim());
  if (!m) throw new Error(`--tls-owner wants uid:gid (numbers), got ${JSON.stringify(value)}`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

function parsePositiveInt(value: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > max) throw new Error(`${flag} wants a number from 1 to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

const parsePortFlag = (value: string, flag: string): number => parsePositiveInt(value, flag, 65535);

const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  ...value.split(',').map((s) => s.trim()).filter(Boolean),
];

/** Runs one renewal from parsed flags; returns the exit status (and prints per the contract). */
export async function runRenew(flags: RenewFlags, io: RenewIo = defaultIo): Promise<number> {
  const log = (line: string): void => io.err(`renew: ${line}\n`);
  try {
    const directoryUrl = resolveDirectoryUrl({ directory: flags.directory, staging: flags.staging });
    const caPem = flags.caFile ? await readFile(flags.caFile, 'utf8') : undefined;
    const slot = flags.slot === undefined ? undefined : parseRenewalSlot(flags.slot);
    const pollMs = flags.pollIntervalMs ? parsePositiveInt(flags.pollIntervalMs, '--poll-interval-ms') : undefined;
    const stateStore = new LocalAcmeStateStore({
      acmeDir: flags.stateDir,
      tlsDir: flags.tlsDir,
      stateFile: flags.stateFile,
      tlsFileOwner: flags.tlsOwner ? parseOwner(flags.tlsOwner) : undefined,
    });
    const result = await obtainOrRenew({
      directoryUrl,
      email: flags.email,
      domains: flags.domain,
      challengeStore: new LocalChallengeStore(flags.webroot),
      stateStore,
      force: flags.force,
      slot,
      preflight: flags.preflight
        ? {
            httpPort: parsePortFlag(flags.httpPort, '--http-port'),
            connectTo: flags.checkVia,
            expectedAddresses: flags.expectAddress,
            ...(flags.dnsServer?.length ? { resolver: resolverFor(flags.dnsServer) } : {}),
          }
        : false,
      caPem,
      now: io.now(),
      log,
      ...(pollMs ? { polling: { minMs: pollMs, maxMs: Math.max(pollMs, 1000), attempts: 20 } } : {}),
    });
    let renewed = result.action !== 'not-due';
    if (!renewed && (await stateStore.reloadPending())) {
      log(`the installed certificate has not been loaded by nginx yet (${stateStore.reloadMarker} is there): reporting renewed so that it is`);
      renewed = true;
    }
    io.out(renewed ? 'renewed\n' : 'not-due\n');
    return 0;
  } catch (e) {
    io.err(`renew: failed: ${oneLine((e as Error)?.message ?? String(e))}\n`);
    return 1;
  }
}

export function renewCommand(io: RenewIo = defaultIo): Command {
  return new Command('renew')
    .description('obtain or renew the Let\'s Encrypt (ACME) certificate when due; prints "renewed" or "not-due"')
    .requiredOption('--domain <name>', 'domain name of the certificate (repeatable, or comma-separated)', collect)
    .option('--email <address>', 'contact address of the ACME account')
    .option('--directory <url>', 'ACME directory URL (default: Let\'s Encrypt production)')
    .option('--staging', 'use the Let\'s Encrypt staging directory')
    .option('--ca-file <file>', 'PEM CA certificate(s) to trust for the ACME server\'s HTTPS')
    .requiredOption('--state-dir <dir>', 'ACME accounts, lock and renewal.json')
    .option('--state-file <file>', 'renewal state JSON (default: <state-dir>/renewal.json)')
    .requiredOption('--tls-dir <dir>', 'directory of fullchain.pem and privkey.pem (as mounted into nginx)')
    .requiredOption('--webroot <dir>', 'webroot nginx serves /.well-known/acme-challenge/ from')
    .option('--force', 'renew even when the certificate is not due')
    .option('--http-port <port>', 'port the CA validates on (preflight)', '80')
    .option('--check-via <host[:port]>', 'preflight: fetch the test token from this address instead of the domain\'s (e.g. nginx:8080)')
    .option('--expect-address <ip>', 'preflight: the domain must resolve to this address (repeatable)', collect)
    .option('--dns-server <ip[:port]>', 'preflight: resolve the domain through this DNS server (repeatable; default: the system\'s)', collect)
    .option('--no-preflight', 'skip the DNS and HTTP checks before ordering')
    .option('--tls-owner <uid:gid>', 'owner of the new certificate files (default: keep the existing owner when root)')
    .option('--slot <I/N>', 'this host is the I-th of N hosts that each order a certificate for the same name: order only in its turn')
    .addOption(new Option('--poll-interval-ms <ms>', 'minimum wait between status polls (tests)').hideHelp())
    .action(async (flags: RenewFlags) => {
      io.setExitCode(await runRenew(flags, io));
    });
}
