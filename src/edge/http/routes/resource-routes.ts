import type { TSchema } from "@sinclair/typebox";
import { notFoundReason } from "../../../app/access.ts";
import type { GrantService } from "../../../app/grants.ts";
import type { ResourceService } from "../../../app/resource-service.ts";
import type { ResourceKind } from "../../../broker/types.ts";
import type { Reason } from "../../../errors/reasons.ts";
import { anyUser, onResource } from "../../access-spec.ts";
import { GrantBody, GrantListView, GrantView, ListQuery, LookupView, NameParams } from "../../schemas.ts";
import { type AnyRoute, AUTH_ERRORS, defineRoute, pageReply } from "../route.ts";

/** The operations every kind has, as the routes below call them. */
type ResourceOperations = Pick<
  ResourceService<ResourceKind, { creator: string }>,
  "list" | "get" | "lookup" | "delete"
>;

/**
 * A queue or topic view as the wire shows it: `creator`, and `owner` with the
 * same value, the deprecated name kept for clients written before `creator`
 * (docs/protocol.md). Neither when the caller may not know the creator.
 */
export function withOwnerAlias<V extends { creator?: string }>(view: V): V & { owner?: string } {
  return view.creator === undefined ? view : { ...view, owner: view.creator };
}

/** What the routes of one kind say that the other's do not. */
export interface ResourceRouteText {
  listSummary: string;
  deleteSummary: string;
  viewSchema: TSchema;
  listSchema: TSchema;
}

/** What a route that uses one named queue or topic may answer with. */
export function useErrors(kind: ResourceKind): readonly Reason[] {
  return [...AUTH_ERRORS, notFoundReason(kind), "ACCESS_DENIED", "VALIDATION_FAILED"];
}

/** `Queue` or `Topic`, as operation ids spell the kind. */
function titleOf(kind: ResourceKind): string {
  return kind === "queue" ? "Queue" : "Topic";
}

/** list, get, lookup and delete: the routes queues and topics share, in that order. */
export function resourceRoutes(
  kind: ResourceKind,
  service: ResourceOperations,
  text: ResourceRouteText,
): AnyRoute[] {
  const title = titleOf(kind);
  return [
    defineRoute({
      method: "get",
      path: `/v1/${kind}s`,
      operationId: `list${title}s`,
      summary: text.listSummary,
      tag: `${kind}s`,
      auth: true,
      access: anyUser,
      query: ListQuery,
      responses: { 200: { description: `One page of ${kind}s, by name.`, schema: text.listSchema } },
      errors: [...AUTH_ERRORS, "VALIDATION_FAILED"],
      handle: async ({ principal, query }) => {
        const page = await service.list(principal, query);
        return pageReply(`${kind}s`, { items: page.items.map(withOwnerAlias), next: page.next });
      },
    }),
    defineRoute({
      method: "get",
      path: `/v1/${kind}s/{name}`,
      operationId: `get${title}`,
      summary: `One ${kind}.`,
      tag: `${kind}s`,
      auth: true,
      access: onResource(kind, "see"),
      params: NameParams,
      responses: { 200: { description: `The ${kind}.`, schema: text.viewSchema } },
      errors: [...useErrors(kind)],
      handle: async ({ principal, params }) => ({
        status: 200,
        body: withOwnerAlias(await service.get(principal, params.name)),
      }),
    }),
    defineRoute({
      method: "get",
      path: `/v1/${kind}s/{name}/lookup`,
      operationId: `lookup${title}`,
      summary: `Which node serves the ${kind} now: connect there to skip the hop between nodes (a hint; ownership moves on failover).`,
      tag: `${kind}s`,
      auth: true,
      access: onResource(kind, "see"),
      params: NameParams,
      responses: { 200: { description: "The serving node.", schema: LookupView } },
      errors: [...useErrors(kind), "NOT_READY"],
      handle: async ({ principal, params }) => ({
        status: 200,
        body: await service.lookup(principal, params.name),
      }),
    }),
    defineRoute({
      method: "delete",
      path: `/v1/${kind}s/{name}`,
      operationId: `delete${title}`,
      summary: text.deleteSummary,
      tag: `${kind}s`,
      auth: true,
      access: onResource(kind, "creator"),
      params: NameParams,
      responses: { 204: { description: "Deleted." } },
      errors: [...AUTH_ERRORS, notFoundReason(kind), "NOT_RESOURCE_OWNER"],
      handle: async ({ principal, params }) => {
        await service.delete(principal, params.name);
        return { status: 204 };
      },
    }),
  ];
}

/** Giving and listing grants on a private queue or topic (creator only). */
export function grantRoutes(kind: ResourceKind, grants: GrantService): AnyRoute[] {
  const title = titleOf(kind);
  return [
    defineRoute({
      method: "post",
      path: `/v1/${kind}s/{name}/grants`,
      operationId: `grant${title}`,
      summary: `Give a user publish and/or consume on a private ${kind} (creator only).`,
      tag: `${kind}s`,
      auth: true,
      access: onResource(kind, "creator"),
      params: NameParams,
      body: GrantBody,
      responses: { 200: { description: "The grant now in force.", schema: GrantView } },
      errors: [
        ...AUTH_ERRORS,
        "VALIDATION_FAILED",
        notFoundReason(kind),
        "NOT_RESOURCE_OWNER",
        "USER_NOT_FOUND",
        "QUOTA_EXCEEDED",
      ],
      handle: async ({ principal, params, body }) => ({
        status: 200,
        body: await grants.grant(principal, kind, params.name, body),
      }),
    }),
    defineRoute({
      method: "get",
      path: `/v1/${kind}s/{name}/grants`,
      operationId: `list${title}Grants`,
      summary: `Grants on a ${kind} (creator only).`,
      tag: `${kind}s`,
      auth: true,
      access: onResource(kind, "creator"),
      params: NameParams,
      query: ListQuery,
      responses: { 200: { description: "One page of grants, by username.", schema: GrantListView } },
      errors: [...AUTH_ERRORS, notFoundReason(kind), "NOT_RESOURCE_OWNER", "VALIDATION_FAILED"],
      handle: async ({ principal, params, query }) =>
        pageReply("grants", await grants.list(principal, kind, params.name, query)),
    }),
  ];
}
