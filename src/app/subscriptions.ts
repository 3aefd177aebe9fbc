import { patternProblem } from "../broker/pattern.ts";
import type { Binding } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import { assertMayUse, assertUnscoped, bindingExposure } from "./access.ts";
import type { AppContext, Principal } from "./context.ts";
import { assertValidName } from "./names.ts";
import type { QueueService } from "./queues.ts";

export interface BindInput {
  queue: string;
  pattern?: string;
}

/**
 * Durable subscriptions: a queue bound to a topic with a pattern. Matching
 * messages published from the moment of binding are copied into the queue
 * and consumed with acks, so nothing is missed while the subscriber is away.
 */
export class SubscriptionService {
  constructor(
    private readonly ctx: AppContext,
    private readonly queues: QueueService,
  ) {}

  async bind(
    principal: Principal,
    topic: string,
    input: BindInput,
  ): Promise<{ binding: Binding; queueCreated: boolean }> {
    const pattern = input.pattern ?? "#";
    const problem = patternProblem(pattern);
    if (problem !== undefined) throw new AvisoError("INVALID_PATTERN", `Pattern "${pattern}": ${problem}.`);
    assertValidName("queue", input.queue, this.ctx.config.maxNameLength);
    assertUnscoped(principal, "create durable subscriptions");
    const topicResource = await this.ctx.catalog.topic(topic);
    assertMayUse(principal, "topic", topicResource, "consume");
    // A private topic's copies go only into a queue as private (docs/security.md S3).
    const queueCreated = await this.ensureOwnQueue(principal, input.queue, topicResource.definition.private);
    const exposure = bindingExposure(topicResource, await this.ctx.catalog.queue(input.queue));
    if (exposure !== undefined) throw exposure;
    const head = await this.ctx.owners.topics.head(topic);
    const binding: Binding = {
      topic,
      queue: input.queue,
      pattern,
      nextOffset: head.nextOffset,
      createdBy: principal.username,
      createdAt: this.ctx.clock.now(),
    };
    await this.ctx.store.createBinding(binding);
    await this.ctx.owners.bindingCreated(topic, input.queue);
    return { binding, queueCreated };
  }

  async list(principal: Principal, topic: string): Promise<Binding[]> {
    const topicResource = await this.ctx.catalog.topic(topic);
    assertMayUse(principal, "topic", topicResource, "consume");
    return this.ctx.store.listBindings({ topic });
  }

  /** The queue's owner or the topic's owner may remove a binding. */
  async unbind(principal: Principal, topic: string, queue: string): Promise<void> {
    assertUnscoped(principal, "remove durable subscriptions");
    const topicResource = await this.ctx.catalog.topic(topic);
    const bindings = await this.ctx.store.listBindings({ topic, queue });
    if (bindings.length === 0) {
      throw new AvisoError("SUBSCRIPTION_NOT_FOUND", `Queue "${queue}" is not bound to topic "${topic}".`);
    }
    const queueOwner = await this.ctx.store.getQueue(queue);
    const allowed =
      topicResource.definition.owner === principal.username || queueOwner?.owner === principal.username;
    if (!allowed) {
      throw new AvisoError(
        "NOT_RESOURCE_OWNER",
        "Only the owner of the queue or of the topic may remove this subscription.",
      );
    }
    await this.ctx.store.deleteBinding(topic, queue);
    await this.ctx.owners.bindingRemoved(topic, queue);
  }

  private async ensureOwnQueue(principal: Principal, queue: string, private_: boolean): Promise<boolean> {
    const existing = await this.ctx.store.getQueue(queue);
    if (existing !== undefined) {
      if (existing.owner !== principal.username) {
        throw new AvisoError(
          "NOT_RESOURCE_OWNER",
          `Queue "${queue}" belongs to "${existing.owner}"; bind a queue you created.`,
        );
      }
      return false;
    }
    try {
      await this.queues.create(principal, { name: queue, private: private_ });
      return true;
    } catch (error) {
      // Created concurrently by the same user is fine.
      if (error instanceof AvisoError && error.reason === "QUEUE_EXISTS") return false;
      throw error;
    }
  }
}
