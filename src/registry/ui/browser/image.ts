// One manifest (#/image/<name>/<tag or digest>): its summary, platforms, configuration, layers and
// referrers, and the deletes; and the error view.
import { api, failure, type ManifestDetails } from './api.js';
import { deleteManifest, deleteTag, digestWithCopy, pullLine } from './actions.js';
import { copyButton, crumbs, formatBytes, formatCount, h, heading, imageHref, kindLabel, query, repoHref, shortDigest, timeNode, type Child } from './dom.js';
import type { Route } from './lists.js';
import { gcBanner, page, show } from './page.js';

function detailsRow(label: string, value: Child): Child {
  if (value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) return null;
  return [h('dt', null, label), h('dd', null, value)];
}

function codeList(values: string[]): HTMLElement {
  return h('ul', { class: 'inline' }, values.map((v) => h('li', null, h('code', null, v))));
}

function platformsSection(d: ManifestDetails): Child {
  if (d.kind !== 'index') return null;
  return [
    h('h2', { id: 'platforms-title' }, 'Platforms'),
    h(
      'table',
      { class: 'list', id: 'platforms', 'aria-labelledby': 'platforms-title' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Platform'), h('th', { scope: 'col' }, 'Manifest'), h('th', { scope: 'col', class: 'num' }, 'Size'))),
      h(
        'tbody',
        null,
        d.platforms.map((p) =>
          h(
            'tr',
            null,
            h('td', { class: 'primary', 'data-label': 'Platform' }, p.platform, p.attestation ? [' ', h('span', { class: 'badge' }, 'attestation')] : null),
            h(
              'td',
              { 'data-label': 'Manifest' },
              p.present ? h('a', { href: imageHref(d.repo, p.digest), title: p.digest }, h('code', null, shortDigest(p.digest))) : [h('code', null, shortDigest(p.digest)), ' (missing)'],
            ),
            h('td', { class: 'num', 'data-label': 'Size', title: formatCount(p.size) + ' bytes' }, formatBytes(p.size)),
          ),
        ),
      ),
    ),
  ];
}

function configSection(d: ManifestDetails): Child {
  const c = d.config;
  if (!c) return null;
  const labels = Object.keys(c.labels).sort();
  return [
    h('h2', null, 'Configuration'),
    h(
      'dl',
      { class: 'details', id: 'config' },
      detailsRow('Platform', c.os ? [c.os, c.architecture, c.variant].filter(Boolean).join('/') : null),
      detailsRow('Entrypoint', c.entrypoint ? h('code', null, JSON.stringify(c.entrypoint)) : null),
      detailsRow('Command', c.cmd ? h('code', null, JSON.stringify(c.cmd)) : null),
      detailsRow('Working directory', c.workingDir ? h('code', null, c.workingDir) : null),
      detailsRow('User', c.user ? h('code', null, c.user) : null),
      detailsRow('Exposed ports', c.exposedPorts.length ? codeList(c.exposedPorts) : null),
      detailsRow('Volumes', c.volumes.length ? codeList(c.volumes) : null),
      detailsRow('Environment', c.env.length ? [codeList(c.env), h('span', { class: 'muted' }, 'names only; values are not shown')] : null),
      detailsRow('Author', c.author),
    ),
    labels.length
      ? [
          h('h2', null, 'Labels'),
          h(
            'table',
            { class: 'list', id: 'labels' },
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Label'), h('th', { scope: 'col' }, 'Value'))),
            h(
              'tbody',
              null,
              labels.map((k) => h('tr', null, h('td', { class: 'primary', 'data-label': 'Label' }, h('code', null, k)), h('td', { 'data-label': 'Value' }, c.labels[k]))),
            ),
          ),
        ]
      : null,
  ];
}

function layersSection(d: ManifestDetails): Child {
  if (d.kind === 'index') return null;
  const total = d.layers.reduce((a, l) => a + l.size, 0);
  return [
    h('h2', { id: 'layers-title' }, d.kind === 'artifact' ? 'Blobs' : 'Layers'),
    d.layers.length === 0
      ? h('p', { class: 'muted' }, 'None.')
      : h(
          'table',
          { class: 'list', id: 'layers', 'aria-labelledby': 'layers-title' },
          h(
            'thead',
            null,
            h('tr', null, h('th', { scope: 'col', class: 'num' }, '#'), h('th', { scope: 'col' }, 'Digest'), h('th', { scope: 'col' }, 'Media type'), h('th', { scope: 'col', class: 'num' }, 'Size')),
          ),
          h(
            'tbody',
            null,
            d.layers.map((l, i) =>
              h(
                'tr',
                null,
                h('td', { class: 'num', 'data-label': '#' }, String(i + 1)),
                h('td', { 'data-label': 'Digest' }, digestWithCopy(l.digest, 'layer ' + (i + 1))),
                h('td', { 'data-label': 'Media type' }, h('span', { class: 'mono' }, l.mediaType)),
                h('td', { class: 'num', 'data-label': 'Size', title: formatCount(l.size) + ' bytes' }, formatBytes(l.size)),
              ),
            ),
            h(
              'tr',
              null,
              h('td', { 'data-label': '' }),
              h('td', { 'data-label': '' }, h('strong', null, 'Total')),
              h('td', { 'data-label': '' }),
              h('td', { class: 'num', 'data-label': 'Total', title: formatCount(total) + ' bytes' }, h('strong', null, formatBytes(total))),
            ),
          ),
        ),
  ];
}

function referrersSection(d: ManifestDetails): Child {
  return [
    h('h2', { id: 'referrers-title' }, 'Referrers'),
    h('p', { class: 'muted' }, 'Signatures, SBOMs, attestations and other artifacts whose subject is this manifest.'),
    d.referrers.length === 0
      ? h('p', { id: 'no-referrers' }, 'Nothing refers to this manifest.')
      : h(
          'table',
          { class: 'list', id: 'referrers', 'aria-labelledby': 'referrers-title' },
          h(
            'thead',
            null,
            h('tr', null, h('th', { scope: 'col' }, 'Artifact type'), h('th', { scope: 'col' }, 'Manifest'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col', class: 'num' }, 'Manifest size')),
          ),
          h(
            'tbody',
            null,
            d.referrers.map((x) =>
              h(
                'tr',
                null,
                h('td', { 'data-label': 'Artifact type' }, h('span', { class: 'mono artifact-type' }, x.artifactType || x.mediaType)),
                h(
                  'td',
                  { 'data-label': 'Manifest' },
                  h('a', { href: imageHref(d.repo, x.digest), title: x.digest }, h('code', null, shortDigest(x.digest))),
                  x.tags.length ? [' ', h('span', { class: 'muted' }, x.tags.join(', '))] : null,
                ),
                h('td', { 'data-label': 'Created' }, timeNode(x.created)),
                h('td', { class: 'num', 'data-label': 'Manifest size' }, formatBytes(x.size)),
              ),
            ),
          ),
        ),
  ];
}

export async function renderImage(seq: number, r: Route & { repo: string; ref: string }): Promise<void> {
  const d = await api<ManifestDetails>('manifest?' + query({ repo: r.repo, ref: r.ref }));
  if (seq !== page.renderSeq) return;
  const tag = d.tag;
  const title = tag ? d.repo + ':' + tag : d.repo + '@' + shortDigest(d.digest);
  const otherTags = d.tags.filter((t) => t !== tag);
  const actions = d.canDelete
    ? h(
        'div',
        { class: 'actions' },
        tag
          ? h(
              'button',
              {
                type: 'button',
                class: 'danger',
                id: 'delete-tag',
                onclick: async () => {
                  if (await deleteTag(d.repo, tag, d.digest)) location.hash = repoHref(d.repo);
                },
              },
              'Delete tag ' + tag,
            )
          : null,
        h(
          'button',
          {
            type: 'button',
            class: 'danger',
            id: 'delete-manifest',
            onclick: async () => {
              if (await deleteManifest(d.repo, d.digest, d.tags, d.referrers.length)) location.hash = repoHref(d.repo);
            },
          },
          'Delete manifest',
        ),
      )
    : null;
  const listed = tag ? otherTags : d.tags;
  show(
    title,
    crumbs([['Repositories', '#/'], [d.repo, repoHref(d.repo)], [tag || shortDigest(d.digest)]]),
    heading(title),
    gcBanner(d.canDelete),
    h(
      'dl',
      { class: 'details', id: 'summary' },
      detailsRow('Digest', h('span', { class: 'digest' }, h('code', { id: 'digest' }, d.digest), copyButton(d.digest, 'Copy the digest'))),
      detailsRow('Kind', kindLabel(d)),
      detailsRow('Media type', h('span', { class: 'mono' }, d.mediaType)),
      detailsRow('Size', h('span', { title: formatCount(d.size) + ' bytes' }, formatBytes(d.size) + (d.kind === 'index' ? ' (all platforms)' : ' (config and layers, compressed)'))),
      detailsRow('Created', timeNode(d.created)),
      detailsRow(tag ? 'Other tags' : 'Tags', listed.length ? h('ul', { class: 'inline' }, listed.map((t) => h('li', null, h('a', { href: imageHref(d.repo, t) }, t)))) : null),
      detailsRow('Subject', d.subject ? h('a', { href: imageHref(d.repo, d.subject.digest), id: 'subject' }, h('code', null, d.subject.digest)) : null),
      detailsRow('Pull', pullLine(d.pullHost, d.repo, tag, d.digest)),
    ),
    actions,
    platformsSection(d),
    configSection(d),
    layersSection(d),
    referrersSection(d),
  );
}

export function renderError(e: unknown): void {
  const { status, message } = failure(e);
  const notFound = status === 404;
  show(
    notFound ? 'Not found' : 'Error',
    crumbs([['Repositories', '#/'], [notFound ? 'Not found' : 'Error']]),
    heading(notFound ? 'Not found' : 'Something went wrong'),
    h('p', { class: 'notice' }, message || String(e)),
    h('p', null, h('a', { href: '#/' }, 'Back to the repositories')),
  );
}
