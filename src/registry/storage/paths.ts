import { splitDigest } from '../names.js';

// distribution 2.x path math, relative to `<root>/docker/registry/v2`.

/** Where a driver keeps everything, below its data directory or bucket prefix. */
export const STORAGE_ROOT = 'docker/registry/v2';

/** In a path, `+ . ;` of the digest algorithm become `/` (they are all absent from sha256/sha512). */
function digestDir(digest: string): string {
  const { algorithm, hex } = splitDigest(digest);
  return `${algorithm.replace(/[+.;]/g, '/')}/${hex}`;
}

export function blobDataPath(digest: string): string {
  const { algorithm, hex } = splitDigest(digest);
  return `blobs/${algorithm.replace(/[+.;]/g, '/')}/${hex.slice(0, 2)}/${hex}/data`;
}

export function blobDir(digest: string): string {
  return blobDataPath(digest).slice(0, -'/data'.length);
}

export const REPOSITORIES = 'repositories';

export function repoDir(name: string): string {
  return `${REPOSITORIES}/${name}`;
}

/** A repository's links to the blobs pushed or mounted into it. */
export function layersDir(name: string): string {
  return `${repoDir(name)}/_layers`;
}

// on every blob HEAD and GET: one template, no intermediate string
export function layerLinkPath(name: string, digest: string): string {
  return `${repoDir(name)}/_layers/${digestDir(digest)}/link`;
}

export function revisionsDir(name: string): string {
  return `${repoDir(name)}/_manifests/revisions`;
}

export function revisionLinkPath(name: string, digest: string): string {
  return `${revisionsDir(name)}/${digestDir(digest)}/link`;
}

export function tagsDir(name: string): string {
  return `${repoDir(name)}/_manifests/tags`;
}

export function tagCurrentLinkPath(name: string, tag: string): string {
  return `${tagsDir(name)}/${tag}/current/link`;
}

export function tagIndexLinkPath(name: string, tag: string, digest: string): string {
  return `${tagsDir(name)}/${tag}/index/${digestDir(digest)}/link`;
}

/** The folder whose children make a directory a repository once a push has started in it. */
export const UPLOADS = '_uploads';

/** A repository's upload sessions, one folder each. */
export function uploadsDir(name: string): string {
  return `${repoDir(name)}/${UPLOADS}`;
}

export function uploadDir(name: string, id: string): string {
  return `${repoDir(name)}/${UPLOADS}/${id}`;
}

export function uploadDataPath(name: string, id: string): string {
  return `${uploadDir(name, id)}/data`;
}

export function uploadStartedAtPath(name: string, id: string): string {
  return `${uploadDir(name, id)}/startedat`;
}

/** A file of a driver's own beside an upload's `data` (S3: its multipart state and tail). */
export function uploadFilePath(name: string, id: string, file: string): string {
  return `${uploadDir(name, id)}/${file}`;
}
