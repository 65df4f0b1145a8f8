// Which registry-setup version this CLI is, for upgrade, status and the downgrade check.
import { validateVersion } from '../templates/render.js';
import { VERSION } from '../version.js';

/**
 * The version this CLI deploys and upgrades to (image tag, image label, registry-setup.json).
 *
 * Hidden test hook, not for users: REGISTRY_SETUP_VERSION_OVERRIDE=<version> makes the day-2
 * commands (upgrade, status) behave as that version, so the end-to-end tests can play a newer
 * or an older CLI without editing package.json. It is deliberately absent from --help and the README.
 */
export function cliVersion(): string {
  const override = process.env.REGISTRY_SETUP_VERSION_OVERRIDE;
  // the one check of the version: it tags the image and is written into compose.yaml and the Dockerfile
  return validateVersion(override || VERSION);
}

interface SemVer {
  core: [number, number, number];
  pre: (string | number)[];
}

/** `1.2.3`, `1.2.3-rc.1`, `v1.2.3+build`; null for anything else. */
export function parseSemver(version: string): SemVer | null {
  const m = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(version.trim());
  if (!m) return null;
  const pre = m[4] ? m[4].split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)) : [];
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre };
}

/** Semantic-version order: negative when a < b, 0 when equal, positive when a > b; null when either is not semver. */
export function compareSemver(a: string, b: string): number | null {
  const x = parseSemver(a);
  const y = parseSemver(b);
  if (!x || !y) return null;
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i]! - y.core[i]!;
  // a pre-release sorts before its release
  if (x.pre.length === 0 || y.pre.length === 0) return y.pre.length - x.pre.length;
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i];
    const q = y.pre[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    if (typeof p === 'number' && typeof q === 'number') return p - q;
    if (typeof p === 'number') return -1;
    if (typeof q === 'number') return 1;
    return p < q ? -1 : 1;
  }
  return 0;
}
