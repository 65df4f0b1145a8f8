// Checks on values that do NOT come from the settings (those are checked once, by src/settings/resolve.ts
// with the rules of src/settings/rules.ts, and the renderers take them as given): the version
// (package.json or the test override) and the fixed listen ports of nginx. The rules are rules.ts's.
import { isIpv4, isPort, isVersion } from '../settings/rules.js';
import { TemplateError } from './engine.js';

export { isIpv4 };

export function validatePort(port: number, what: string): number {
  if (!isPort(port)) throw new TemplateError(`${what}: ${port} is not a port number (1-65535)`);
  return port;
}

export function validateVersion(version: string): string {
  if (!isVersion(version)) throw new TemplateError(`"${version}" is not a version string`);
  return version;
}
