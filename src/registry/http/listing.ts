import { RegistryError } from '../errors.js';
import { paginate, sendJSON } from './respond.js';
import type { Ctx } from './context.js';

export async function listTags(ctx: Ctx): Promise<void> {
  const { registry, name } = ctx;
  if (!(await registry.manifests.repositoryExists(name))) {
    throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name });
  }
  const page = paginate(await registry.manifests.tags(name), ctx.url.searchParams, `/v2/${name}/tags/list`);
  sendJSON(ctx.res, 200, { name, tags: page.items }, page.link ? { Link: page.link } : {});
}

export async function listCatalog(ctx: Ctx): Promise<void> {
  const page = paginate(await ctx.registry.manifests.repositories(), ctx.url.searchParams, '/v2/_catalog');
  sendJSON(ctx.res, 200, { repositories: page.items }, page.link ? { Link: page.link } : {});
}
