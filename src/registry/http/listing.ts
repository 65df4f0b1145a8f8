import { AuthenticationRequiredError, RegistryError } from '../errors.js';
import { paginate, sendJSON } from './respond.js';
import { isRestricted, mayDo } from './access.js';
import type { Ctx } from './context.js';

export async function listTags(ctx: Ctx): Promise<void> {
  const { registry, name } = ctx;
  if (!(await registry.manifests.repositoryExists(name))) {
    throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name });
  }
  const page = paginate(await registry.manifests.tags(name), ctx.url.searchParams, `/v2/${name}/tags/list`);
  sendJSON(ctx.res, 200, { name, tags: page.items }, page.link ? { Link: page.link } : {});
}

/** Under an access policy, only the repositories the caller may read (pages count only those). */
export async function listCatalog(ctx: Ctx): Promise<void> {
  const policy = ctx.registry.access?.value;
  if (policy && ctx.who === null && !policy.allowsAnonymous) throw new AuthenticationRequiredError();
  let repositories = await ctx.registry.manifests.repositories();
  if (isRestricted(ctx.registry)) repositories = repositories.filter((name) => mayDo(ctx, name, 'read'));
  const page = paginate(repositories, ctx.url.searchParams, '/v2/_catalog');
  sendJSON(ctx.res, 200, { repositories: page.items }, page.link ? { Link: page.link } : {});
}
