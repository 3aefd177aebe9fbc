import { ApiKeyService } from "./api-keys.ts";
import { BindingService } from "./bindings.ts";
import type { AppContext } from "./context.ts";
import { GrantService } from "./grants.ts";
import { QueueService } from "./queues.ts";
import { Quotas } from "./quotas.ts";
import { TopicService } from "./topics.ts";
import { UserService } from "./users.ts";

/** The v1 operations, shared by the REST routes and the WebSocket ops. */
export interface Services {
  users: UserService;
  queues: QueueService;
  topics: TopicService;
  grants: GrantService;
  bindings: BindingService;
  apiKeys: ApiKeyService;
}

export function createServices(ctx: AppContext): Services {
  const quotas = new Quotas(ctx);
  const queues = new QueueService(ctx, quotas);
  return {
    users: new UserService(ctx),
    queues,
    topics: new TopicService(ctx, quotas),
    grants: new GrantService(ctx, quotas),
    bindings: new BindingService(ctx, queues),
    apiKeys: new ApiKeyService(ctx),
  };
}
