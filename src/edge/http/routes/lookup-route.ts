import type { Principal, ServingNode } from "../../../app/context.ts";
import type { Reason } from "../../../errors/reasons.ts";
import { onResource } from "../../access-spec.ts";
import { LookupView, NameParams } from "../../schemas.ts";
import { type AnyRoute, defineRoute } from "../route.ts";

/** `GET /v1/{queues|topics}/{name}/lookup`: the node serving the resource now. */
export function lookupRoute(
  kind: "queue" | "topic",
  lookup: (principal: Principal, name: string) => Promise<ServingNode>,
  useErrors: readonly Reason[],
): AnyRoute {
  return defineRoute({
    method: "get",
    path: `/v1/${kind}s/{name}/lookup`,
    operationId: kind === "queue" ? "lookupQueue" : "lookupTopic",
    summary: `Which node serves the ${kind} now: connect there to skip the hop between nodes (a hint; ownership moves on failover).`,
    tag: `${kind}s`,
    auth: true,
    access: onResource(kind, "see"),
    params: NameParams,
    responses: { 200: { description: "The serving node.", schema: LookupView } },
    errors: [...useErrors, "NOT_READY"],
    handle: async ({ principal, params }) => ({ status: 200, body: await lookup(principal, params.name) }),
  });
}
