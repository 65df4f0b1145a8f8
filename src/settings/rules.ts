// Each value rule of a deployment, written once. The values end up in nginx.conf, compose.yaml, a
// Dockerfile, systemd units and argv: anything that could change their structure is refused rather
// than escaped. src/settings/resolve.ts checks user input with these (its messages name the flag;
// a flag outside the settings, like upgrade's --publish-address, goes through it too); renderers
// and plans take the settings as checked and only check values from elsewhere (the version, fixed
// ports) with the same predicates.

/** One label of a host name: letters, digits and '-', not at either end, at most 63. */
const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_NAME_RE = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*$`);
const IPV4_RE = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const BRACKETED_IPV6_RE = /^\[[0-9a-fA-F:]+\]$/;
const COMPOSE_PROJECT_RE = /^[a-z0-9][a-z0-9_-]*$/;
/** systemd's ExecStart and compose's volume syntax split on whitespace; ':' ends a volume's path; '$' and '%' are expanded. */
const HOST_PATH_FORBIDDEN_RE = /[\s:%$"'\\]/;

/** A DNS host name (the registry's domain): at most 253 characters. */
export function isHostName(value: string): boolean {
  return value.length <= 253 && HOST_NAME_RE.test(value);
}

export function isIpv4(value: string): boolean {
  return IPV4_RE.test(value);
}

/** Where compose publishes nginx's ports: an IPv4 address or a bracketed IPv6 address. */
export function isPublishAddress(value: string): boolean {
  return IPV4_RE.test(value) || BRACKETED_IPV6_RE.test(value);
}

export function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** A compose project name (lower-case: compose v1 rejects the rest). */
export function isComposeProject(value: string): boolean {
  return COMPOSE_PROJECT_RE.test(value);
}

/** What is wrong with a path on the host (install or data directory), or undefined when it is usable. */
export function hostPathProblem(value: string): string | undefined {
  if (!value.startsWith('/')) return `must be an absolute path on the host, not "${value}"`;
  if (HOST_PATH_FORBIDDEN_RE.test(value)) return `"${value}" must not contain whitespace, ':', '%', '$', quotes or backslashes`;
  return undefined;
}

/**
 * What compose would do to the storage URL (the payload's parser judges the rest): compose.yaml
 * carries it as written in REGISTRY_STORAGE_URL, where compose interpolates '$' and a space would
 * not survive; undefined when it is safe.
 */
export function storageComposeProblem(value: string): string | undefined {
  return /[\s$]/.test(value) ? `storage "${value}" must not contain spaces or '$' (compose would read '$' as a variable)` : undefined;
}

/**
 * An ACME peer: how the other hosts of a deployment reach this host's HTTP port to forward ACME
 * challenges: a host name, an IPv4 address or a bracketed IPv6 address, with `:port`.
 */
export function isAcmePeer(value: string): boolean {
  const m = /^(.+):(\d{1,5})$/.exec(value);
  return !!m && isPeerHost(m[1]!) && isPort(Number(m[2]));
}

/** The address part of an ACME peer: nginx looks a name up when it loads the file. */
function isPeerHost(value: string): boolean {
  // all digits and dots is meant as an IPv4 address (999.1.1.1 is not a name to look up)
  if (/^[\d.]+$/.test(value)) return isIpv4(value);
  return isHostName(value) || isPublishAddress(value);
}

/** What peerAddress may be: an address, with `:port` when the others reach this host's HTTP port on another port. */
export function isPeerAddress(value: string): boolean {
  return isPeerHost(value) || isAcmePeer(value);
}

/** An image reference as docker accepts it (repository[:tag][@digest]): no whitespace or quotes. */
export function isImageRef(value: string): boolean {
  return value.length <= 512 && /^[a-z0-9][a-z0-9._\/:@-]*$/i.test(value);
}

/** A registry-setup version: it becomes the registry image's tag. */
export function isVersion(value: string): boolean {
  return /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,127}$/.test(value);
}
