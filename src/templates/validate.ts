// The renderers' last guard: values end up in nginx.conf, a Dockerfile and YAML, so anything that
// could change their structure is refused instead of escaped. The rules themselves are
// src/settings/rules.ts (the same ones the settings are checked with).
import { hostPathProblem, isHostName, isIpv4, isPort } from '../settings/rules.js';
import { TemplateError } from './engine.js';

export { isIpv4 };


export function validateDomain(domain: string): string {
  if (!isHostName(domain)) {
    throw new TemplateError(`"${domain}" is not a valid host name (letters, digits, '-' and '.' only)`);
  }
  return domain;
}

export function validatePort(port: number, what: string): number {
  if (!isPort(port)) throw new TemplateError(`${what}: ${port} is not a port number (1-65535)`);
  return port;
}

export function validateImageRef(image: string, what: string): string {
  // repository[:tag][@digest], as docker accepts them; no whitespace or quotes.
  if (!/^[a-z0-9][a-z0-9._\/:@-]*$/i.test(image) || image.length > 512) throw new TemplateError(`${what}: "${image}" is not an image reference`);
  return image;
}

export function validateVersion(version: string): string {
  if (!/^[0-9A-Za-z][0-9A-Za-z.+_-]{0,127}$/.test(version)) throw new TemplateError(`"${version}" is not a version string`);
  return version;
}

export function validateAbsolutePath(path: string, what: string): string {
  if (hostPathProblem(path) !== undefined || path.includes('\0')) {
    throw new TemplateError(`${what}: "${path}" must be an absolute path without whitespace, ':', '%', '$', quotes or backslashes`);
  }
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}
