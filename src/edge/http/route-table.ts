import type { Services } from "../../app/services.ts";
import type { AnyRoute } from "./route.ts";
import { authRoutes } from "./routes/auth-routes.ts";
import { type OperationDeps, operationRoutes } from "./routes/operation-routes.ts";
import { queueRoutes } from "./routes/queue-routes.ts";
import { topicRoutes } from "./routes/topic-routes.ts";

/**
 * Every REST route the node mounts, in one list: the edge mounts it, and
 * tests that must cover the whole surface (the fuzz test) import it, so a
 * new route cannot be left out of either.
 */
export function routeTable(services: Services, operations: Omit<OperationDeps, "apiRoutes">): AnyRoute[] {
  const apiRoutes: AnyRoute[] = [...authRoutes(services), ...queueRoutes(services), ...topicRoutes(services)];
  return [...apiRoutes, ...operationRoutes({ ...operations, apiRoutes: () => apiRoutes })];
}
