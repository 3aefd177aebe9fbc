import type { Grant, Permission, ResourceKind } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import { assertCreator } from "./access.ts";
import type { AppContext, Principal } from "./context.ts";
import { type Page, type PageRequest, pagerOf } from "./list-page.ts";
import { isExternalUsername } from "./names.ts";
import type { Quotas } from "./quotas.ts";

export interface GrantInput {
  username: string;
  permissions: Permission[];
}

/** Grants on private queues and topics; only the creator gives or takes them. */
export class GrantService {
  constructor(
    private readonly ctx: AppContext,
    private readonly quotas: Quotas,
  ) {}

  async grant(principal: Principal, kind: ResourceKind, name: string, input: GrantInput): Promise<Grant> {
    const resource = await this.ctx.catalog.resource(kind, name);
    assertCreator(principal, kind, resource, "grant access to");
    // An external user (S14) is proved by its issuer's token, not by a row here.
    // A deleted user keeps their row (the name stays taken) but can be granted nothing.
    const user = isExternalUsername(input.username) ? {} : await this.ctx.store.getUser(input.username);
    if (user === undefined || ("deletedAt" in user && user.deletedAt !== undefined))
      throw new AvisoError("USER_NOT_FOUND", `No user is named "${input.username}".`);
    const grant: Grant = {
      kind,
      resource: name,
      username: input.username,
      permissions: [...new Set(input.permissions)].sort(),
    };
    await this.quotas.putGrant(kind, name, grant.username, grant.permissions, () =>
      this.ctx.store.putGrant(grant),
    );
    await this.ctx.catalog.changed(kind, name);
    return grant;
  }

  /** One page of the resource's grants, by username (src/app/list-page.ts). */
  async list(
    principal: Principal,
    kind: ResourceKind,
    name: string,
    request: PageRequest = {},
  ): Promise<Page<Grant>> {
    const resource = await this.ctx.catalog.resource(kind, name);
    assertCreator(principal, kind, resource, "list the grants of");
    return pagerOf(this.ctx).page(`grants:${kind}:${name}`, request, {
      read: (page) => this.ctx.store.listGrants(kind, name, page),
      keyOf: (grant: Grant) => grant.username,
      admit: (grant) => grant,
    });
  }
}
