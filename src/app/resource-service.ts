import type { Permission, ResourceKind } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { KeyPage } from "../store/key-page.ts";
import {
  assertMaySee,
  assertMayUse,
  assertOwner,
  notFoundReason,
  resourceNotFound,
  type Visible,
  withoutHiddenOwner,
} from "./access.ts";
import type { DefinitionOf, Resource } from "./catalog.ts";
import type { AppContext, Principal, ServingNode } from "./context.ts";
import { type Page, type PageRequest, visibleResourcePage } from "./list-page.ts";
import type { Quotas } from "./quotas.ts";

/**
 * What the queue and topic services share, by kind: list, get, lookup,
 * delete, authorize, and the publish path's access, quota and metrics. Each
 * service adds what only its kind does (create, receive, history, …).
 */
export abstract class ResourceService<K extends ResourceKind, View extends { owner: string }> {
  protected constructor(
    protected readonly ctx: AppContext,
    protected readonly quotas: Quotas,
    private readonly kind: K,
  ) {}

  /** The caller's view of one definition (with live counts or offsets). */
  protected abstract view(definition: DefinitionOf[K]): Promise<View>;
  /** One keyset page of every definition of this kind, by name. */
  protected abstract readDefinitions(page: KeyPage): Promise<DefinitionOf[K][]>;
  /** Deletes the definition from the store; false when there was none. */
  protected abstract deleteDefinition(name: string, at: number): Promise<boolean>;

  /** One page of those the caller may see, by name (src/app/list-page.ts). */
  list(principal: Principal, request: PageRequest = {}): Promise<Page<Visible<View>>> {
    return visibleResourcePage(
      this.ctx,
      principal,
      this.kind,
      request,
      (page) => this.readDefinitions(page),
      (definition) => this.view(definition),
    );
  }

  async get(principal: Principal, name: string): Promise<Visible<View>> {
    return withoutHiddenOwner(principal, await this.view((await this.visible(principal, name)).definition));
  }

  /** The node serving it now: clients that connect there skip a hop between nodes. */
  async lookup(principal: Principal, name: string): Promise<ServingNode> {
    await this.visible(principal, name);
    return this.ctx.locate(this.kind, name);
  }

  /** Its creator only; the owner node lets go of it, ending what is attached there. */
  async delete(principal: Principal, name: string): Promise<void> {
    const { kind } = this;
    const resource = await this.ctx.catalog.resource(kind, name);
    assertOwner(principal, kind, resource, "delete");
    const deleted = await this.deleteDefinition(name, this.ctx.clock.now());
    await this.ctx.catalog.changed(kind, name);
    if (!deleted) throw resourceNotFound(kind, name);
    const title = kind === "queue" ? "Queue" : "Topic";
    const gone = new AvisoError(notFoundReason(kind), `${title} "${name}" was deleted.`);
    this.ctx.owners.release(kind, name, gone);
  }

  async authorize(
    principal: Principal,
    name: string,
    permission: Permission,
  ): Promise<Resource<DefinitionOf[K]>> {
    const resource = await this.ctx.catalog.resource(this.kind, name);
    assertMayUse(principal, this.kind, resource, permission);
    return resource;
  }

  /** The resource, if the caller may see it; not found otherwise, as if it did not exist (S7). */
  protected async visible(principal: Principal, name: string): Promise<Resource<DefinitionOf[K]>> {
    const resource = await this.ctx.catalog.resource(this.kind, name);
    assertMaySee(principal, this.kind, resource);
    return resource;
  }

  /**
   * A publish of `count` checked messages: authorized, charged to the
   * caller's publish rate, sent by `send`, then counted and timed.
   */
  protected async publishChecked<Result>(
    principal: Principal,
    name: string,
    count: number,
    send: () => Promise<Result[]>,
  ): Promise<Result[]> {
    const started = performance.now();
    await this.authorize(principal, name, "publish");
    this.quotas.takePublishTokens(principal.username, count);
    const results = await send();
    const { metrics } = this.ctx;
    metrics.messagesPublished.inc({ kind: this.kind }, results.length);
    metrics.publishLatencySeconds.observe({ kind: this.kind }, (performance.now() - started) / 1000);
    return results;
  }
}
