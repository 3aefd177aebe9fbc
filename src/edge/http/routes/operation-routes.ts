import { Type } from "@sinclair/typebox";
import type { ClusterInfo } from "../../../app/cluster-info.ts";
import { AvisoError } from "../../../errors/aviso-error.ts";
import type { Metrics } from "../../../metrics/metrics.ts";
import { anyone, anyUser } from "../../access-spec.ts";
import { ClusterView, HealthView } from "../../schemas.ts";
import { docsContentSecurityPolicy, docsPage } from "../docs-page.ts";
import { buildOpenApi } from "../openapi.ts";
import { type AnyRoute, AUTH_ERRORS, defineRoute } from "../route.ts";

export interface OperationDeps {
  metrics: Metrics;
  /** Whether a scrape with this Authorization header gets per-resource labels (S7). */
  metricsResourceLabels(authorization: string): Promise<boolean>;
  /** Resolves when the node can serve (store reachable, cluster joined); throws NOT_READY otherwise. */
  checkReady(): Promise<void>;
  cluster: ClusterInfo;
  version: string;
  /** Every other route, for the OpenAPI document. */
  apiRoutes(): readonly AnyRoute[];
}

export function operationRoutes(deps: OperationDeps): AnyRoute[] {
  let openApiJson: string | undefined;
  const routes: AnyRoute[] = [
    defineRoute({
      method: "get",
      path: "/healthz",
      operationId: "health",
      summary: "Liveness: the process answers.",
      tag: "operations",
      auth: false,
      access: anyone,
      responses: { 200: { description: "Alive.", schema: HealthView } },
      errors: [],
      handle: async () => ({ status: 200, body: { status: "ok" } }),
    }),
    defineRoute({
      method: "get",
      path: "/readyz",
      operationId: "ready",
      summary: "Readiness: the store answers and the node has joined its cluster.",
      tag: "operations",
      auth: false,
      access: anyone,
      responses: { 200: { description: "Ready.", schema: HealthView } },
      errors: ["NOT_READY"],
      handle: async () => {
        await deps.checkReady().catch((error: unknown) => {
          throw error instanceof AvisoError && error.reason === "SHUTTING_DOWN"
            ? error
            : new AvisoError("NOT_READY", undefined, { cause: error });
        });
        return { status: 200, body: { status: "ready" } };
      },
    }),
    defineRoute({
      method: "get",
      path: "/metrics",
      operationId: "metrics",
      summary:
        "Prometheus metrics; per-queue labels only with an operator's token or the metricsToken as Bearer (otherwise summed).",
      tag: "operations",
      auth: false,
      access: anyone,
      responses: { 200: { description: "Prometheus text format.", contentType: "text/plain" } },
      errors: ["AUTH_REQUIRED"],
      handle: async ({ authorization }) => ({
        status: 200,
        text: await deps.metrics.scrape({
          resourceLabels: await deps.metricsResourceLabels(authorization),
        }),
        contentType: deps.metrics.registry.contentType,
      }),
    }),
    defineRoute({
      method: "get",
      path: "/openapi.json",
      operationId: "openapi",
      summary: "This API as OpenAPI 3.1.",
      tag: "operations",
      auth: false,
      access: anyone,
      responses: { 200: { description: "The document.", schema: Type.Object({}) } },
      errors: [],
      handle: async () => {
        openApiJson ??= JSON.stringify(buildOpenApi([...deps.apiRoutes(), ...routes], deps.version));
        return { status: 200, json: openApiJson };
      },
    }),
    defineRoute({
      method: "get",
      path: "/docs",
      operationId: "docs",
      summary: "A page that renders the OpenAPI document.",
      tag: "operations",
      auth: false,
      access: anyone,
      responses: { 200: { description: "HTML.", contentType: "text/html" } },
      errors: [],
      handle: async () => ({
        status: 200,
        text: docsPage,
        contentType: "text/html; charset=utf-8",
        headers: { "Content-Security-Policy": docsContentSecurityPolicy },
      }),
    }),
    defineRoute({
      method: "get",
      path: "/v1/cluster",
      operationId: "cluster",
      summary: "Members of the cluster and, for operators, what this node serves.",
      tag: "operations",
      auth: true,
      access: anyUser,
      responses: { 200: { description: "Cluster view.", schema: ClusterView } },
      errors: [...AUTH_ERRORS],
      handle: async ({ principal }) => ({
        status: 200,
        body: {
          mode: deps.cluster.mode,
          self: deps.cluster.self,
          members: deps.cluster.members(),
          // Resource names only to operators (S7).
          ...(principal.operator ? { owned: deps.cluster.owned() } : {}),
        },
      }),
    }),
  ];
  return routes;
}
