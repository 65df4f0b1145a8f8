// The `access:` section of registry-setup.yaml: who may do what, in zot's accessControl shape.
// Checked here by the registry's own parser (one rule, one place), so a mistake is reported with
// its line in registry-setup.yaml before any host is contacted. The deployed form is plain YAML
// text (DeploySettings.access), which deploy writes to auth/access.yaml on every host.
import YAML, { isMap, isScalar, LineCounter, parseDocument, type Node } from 'yaml';
import { accessPolicyFromNode, AccessPolicyError, parseAccessPolicy, type AccessPolicy } from '../registry/auth/access-policy.js';

export class AccessSettingError extends Error {}

/**
 * The `access:` section of a config file's text as deployable policy text (undefined when there is
 * none or it is empty). Errors name the file and the line: `registry-setup.yaml: access: line 7: …`.
 */
export function accessFromConfigText(text: string, path: string): string | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  if (doc.errors.length || !isMap(doc.contents)) return undefined; // the caller reports those
  const pair = doc.contents.items.find((p) => isScalar(p.key) && p.key.value === 'access');
  const node = (pair?.value ?? null) as Node | null;
  if (node === null || (isScalar(node) && node.value === null)) return undefined;
  if (isScalar(node)) {
    // a policy given as a block string (what registry-setup.json records) is checked as a file of its own
    if (typeof node.value !== 'string') throw new AccessSettingError(`${path}: access: line ${lines.linePos(node.range![0]).line}: expected a mapping (zot's accessControl shape)`);
    return checkAccessText(node.value, `${path}: access:`);
  }
  try {
    accessPolicyFromNode(node, lines, `${path}: access:`);
  } catch (err) {
    if (err instanceof AccessPolicyError) throw new AccessSettingError(err.message);
    throw err;
  }
  return YAML.stringify(node.toJSON());
}

/** Policy text (from a host's record, or a string in the config file): checked, returned as given. */
export function checkAccessText(text: string, source: string): string {
  accessPolicyOf(text, source);
  return text;
}

/** The policy of deployable text; errors are AccessSettingError naming `source`. */
export function accessPolicyOf(text: string, source: string): AccessPolicy {
  try {
    return parseAccessPolicy(text, source);
  } catch (err) {
    if (err instanceof AccessPolicyError) throw new AccessSettingError(err.message);
    throw err;
  }
}

/** What deploy writes to auth/access.yaml: a header saying where it comes from, then the policy. */
export function accessFileContent(text: string): string {
  const body = text.endsWith('\n') ? text : `${text}\n`;
  return `# Written by registry-setup deploy from the access: section of registry-setup.yaml: edit it there.\n${body}`;
}

/** The policy as a mapping again, for the registry-setup.yaml that deploy saves. */
export function accessSection(text: string): unknown {
  return YAML.parse(text);
}
