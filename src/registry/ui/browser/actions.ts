// Pull lines, digests with a copy button, and the deletes (each behind a confirmation dialog).
import { api, failure } from './api.js';
import { copyButton, h, plural, query, say, shortDigest, type Child } from './dom.js';

export function pullLine(host: string, repo: string, tag: string | null | undefined, digest?: string): HTMLElement {
  const line = 'docker pull ' + host + '/' + repo + (tag ? ':' + tag : '@' + digest);
  return h('div', { class: 'pull' }, h('code', { class: 'pull-line' }, line), copyButton(line, 'Copy the pull command for ' + repo + (tag ? ':' + tag : '')));
}

export function digestWithCopy(digest: string, what: string): HTMLElement {
  return h('span', { class: 'digest' }, h('code', { title: digest }, shortDigest(digest)), copyButton(digest, 'Copy the digest of ' + what));
}

async function confirmDelete(title: string, body: Child, confirmLabel: string): Promise<boolean> {
  const previous = document.activeElement as HTMLElement | null;
  const answer = await new Promise<boolean>((resolve) => {
    const cancel = h('button', { type: 'button', id: 'confirm-cancel' }, 'Cancel');
    const ok = h('button', { type: 'button', class: 'danger solid', id: 'confirm-ok' }, confirmLabel);
    const dialog = h(
      'dialog',
      { class: 'confirm', id: 'confirm', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-body' },
      h('h2', { id: 'confirm-title' }, title),
      h('div', { id: 'confirm-body' }, body),
      h('div', { class: 'actions' }, cancel, ok),
    );
    const finish = (value: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    cancel.addEventListener('click', () => finish(false));
    ok.addEventListener('click', () => finish(true));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
  if (previous && previous.isConnected && typeof previous.focus === 'function') previous.focus();
  return answer;
}

export async function deleteTag(repo: string, tag: string, digest: string): Promise<boolean> {
  const ok = await confirmDelete(
    'Delete the tag ' + repo + ':' + tag + '?',
    [
      h('p', null, 'This goes:'),
      h('ul', null, h('li', null, 'the tag ', h('code', null, repo + ':' + tag))),
      h('p', null, 'The manifest ', h('code', null, digest), ' it points at stays, and so do other tags that point at it. Disk space comes back only after garbage collection.'),
    ],
    'Delete tag',
  );
  if (!ok) return false;
  try {
    await api('tag?' + query({ repo, tag, digest }), { method: 'DELETE' });
    say('Deleted the tag ' + repo + ':' + tag + '.');
    return true;
  } catch (e) {
    const { handled, message } = failure(e);
    if (!handled) say('Could not delete the tag: ' + message);
    return false;
  }
}

export async function deleteManifest(repo: string, digest: string, tags: string[], referrers: number): Promise<boolean> {
  const items = [h('li', null, 'the manifest ', h('code', null, repo + '@' + digest))];
  for (const tag of tags) items.push(h('li', null, 'the tag ', h('code', null, repo + ':' + tag)));
  const ok = await confirmDelete(
    'Delete the manifest ' + repo + '@' + shortDigest(digest) + '?',
    [
      h('p', null, 'This goes:'),
      h('ul', null, items),
      referrers > 0
        ? h('p', null, plural(referrers, 'referrer (a signature, SBOM or other artifact) stays', 'referrers (signatures, SBOMs or other artifacts) stay') + ', pointing at a manifest that is gone, until deleted too.')
        : null,
      h('p', null, 'An index that lists this manifest breaks. Disk space comes back only after garbage collection.'),
    ],
    tags.length ? 'Delete manifest and ' + plural(tags.length, 'tag', 'tags') : 'Delete manifest',
  );
  if (!ok) return false;
  try {
    await api('manifest?' + query({ repo, digest }), { method: 'DELETE' });
    say('Deleted the manifest ' + repo + '@' + shortDigest(digest) + (tags.length ? ' and ' + plural(tags.length, 'tag', 'tags') : '') + '.');
    return true;
  } catch (e) {
    const { handled, message } = failure(e);
    if (!handled) say('Could not delete the manifest: ' + message);
    return false;
  }
}
