import type { ResourceRef } from "../http/serving-node-hints.ts";
import type { Grant, Permission, ServingNode } from "../types.ts";
import { eachItem, type ListPage, type PageOptions, pageQuery } from "../util/pages.ts";
import { type ClientContext, resourcePath } from "./context.ts";

export interface ApiCall {
  method: "GET" | "POST" | "DELETE";
  path: string;
  body?: unknown;
  retry?: "idempotent" | "unsent-only";
  timeoutMs?: number;
  resource?: ResourceRef;
}

/** A call about one queue or topic (path `/v1/{kind}/{name}{rest}`), which `preferServingNodes` sends to the node serving it. */
export type ServedCall = Omit<ApiCall, "path" | "resource"> & { rest: string };

/** What queues and topics share: create, list, get, delete, grants — and how calls are made. */
export abstract class ResourceApi<View extends CreatorFields, Settings> {
  constructor(
    protected readonly context: ClientContext,
    private readonly kind: "queues" | "topics",
  ) {}

  /** Creates one; the caller is its creator. */
  async create(name: string, settings: Settings = {} as Settings): Promise<View> {
    const view = await this.call<View>({
      method: "POST",
      path: `/v1/${this.kind}`,
      body: { name, ...settings },
      retry: "unsent-only",
    });
    return withCreator(view);
  }

  /** One page of those the caller may see, by name; pass its `next` as `after` for the following page. */
  async list(page: PageOptions = {}): Promise<ListPage<View>> {
    const answer = await this.call<Record<string, unknown>>({
      method: "GET",
      path: `/v1/${this.kind}${pageQuery(page)}`,
    });
    return {
      items: ((answer[this.kind] as View[] | undefined) ?? []).map(withCreator),
      next: nextOf(answer),
    };
  }

  /** All of them, page after page: `for await (const view of aviso.queues.listAll())`. */
  listAll(options: { limit?: number } = {}): AsyncGenerator<View, void, undefined> {
    return eachItem((page) => this.list(page), options);
  }

  async get(name: string): Promise<View> {
    return withCreator(await this.call<View>({ method: "GET", path: resourcePath(this.kind, name) }));
  }

  /**
   * The node serving it now. A client connected there skips the
   * hop between nodes: `createClient({ urls: [found.httpUrl, ...urls], randomizeUrls: false })`.
   * A hint only: after a failover the client still works through any node.
   */
  lookup(name: string): Promise<ServingNode> {
    return this.call({ method: "GET", path: resourcePath(this.kind, name, "/lookup") });
  }

  /** Deletes it (its creator only: NOT_RESOURCE_OWNER otherwise). */
  async delete(name: string): Promise<void> {
    await this.call({ method: "DELETE", path: resourcePath(this.kind, name), retry: "unsent-only" });
  }

  /** Gives `username` these permissions on a private one (an empty list removes the grant). Creator only. */
  grant(name: string, username: string, permissions: Permission[]): Promise<Grant> {
    return this.call({
      method: "POST",
      path: resourcePath(this.kind, name, "/grants"),
      body: { username, permissions },
    });
  }

  /** One page of its grants, by username (creator only); every page: `eachItem((page) => api.grants(name, page))`. */
  async grants(name: string, page: PageOptions = {}): Promise<ListPage<Grant>> {
    const answer = await this.call<{ grants: Grant[]; next?: string | null }>({
      method: "GET",
      path: resourcePath(this.kind, name, `/grants${pageQuery(page)}`),
    });
    return { items: answer.grants, next: nextOf(answer) };
  }

  /** `call` for `/v1/{kind}/{name}{rest}`, marked as being about that resource. */
  protected servedCall<T>(name: string, { rest, ...call }: ServedCall): Promise<T> {
    const path = resourcePath(this.kind, name, rest);
    return this.call({ ...call, path, resource: { kind: this.kind, name } });
  }

  protected call<T>(call: ApiCall): Promise<T> {
    this.context.assertOpen();
    return this.context.http.call<T>({ retry: "idempotent", auth: true, ...call });
  }
}

/** The view fields that name the creator: `owner` is the deprecated name older servers send alone. */
interface CreatorFields {
  creator?: string;
  owner?: string;
}

/** Reads `creator`, falling back to `owner` from a server that predates it. */
export function withCreator<View extends CreatorFields>(view: View): View {
  return view.creator === undefined && view.owner !== undefined ? { ...view, creator: view.owner } : view;
}

/** A listing answer's cursor; null when the node sent none. */
export function nextOf(answer: { next?: unknown }): string | null {
  return typeof answer.next === "string" ? answer.next : null;
}
