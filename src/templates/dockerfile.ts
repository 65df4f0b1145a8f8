// The registry image's Dockerfile and .dockerignore, and its tag.
import { REGISTRY_IMAGE_REPO, REGISTRY_PORT, REGISTRY_UID } from '../host/contract.js';
import type { DeploySettings } from '../settings/settings.js';
import { renderTemplate } from './engine.js';


export function buildDockerfile(settings: Pick<DeploySettings, 'nodeImage'>, version: string): string {
  return renderTemplate('Dockerfile.tmpl', {
    // both checked before they get here: nodeImage by the settings, the version by cliVersion
    nodeImage: settings.nodeImage,
    version,
    uid: REGISTRY_UID,
    gid: REGISTRY_UID,
    port: REGISTRY_PORT,
  });
}

export function buildDockerignore(): string {
  return renderTemplate('dockerignore.tmpl', {});
}

export function registryImageTag(version: string): string {
  return `${REGISTRY_IMAGE_REPO}:${version}`;
}
