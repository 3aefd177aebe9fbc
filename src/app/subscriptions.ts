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
    const { created: queueCreated, id: queueId } = await this.ensureOwnQueue(
      principal,
      input.queue,
      topicResource.definition.private,
    );
    const exposure = bindingExposure(topicResource, await this.ctx.catalog.queue(input.queue));
    if (exposure !== undefined) throw exposure;
    const head = await this.ctx.owners.topics.head(topic);
    const binding: Binding = {
      topic,
      queue: input.queue,
      topicId: topicResource.definition.id,
      queueId,
      pattern,
      nextOffset: head.nextOffset,
      createdBy: principal.username,
      createdAt: this.ctx.clock.now(),
      state: "active",
      endedReason: null,
      endedAt: null,
    };
    await this.ctx.store.createBinding(binding);
    await this.ctx.owners.bindingCreated(topic, input.queue);
    return { binding, queueCreated };
  }

  /** The topic's bindings, active and ended; not those of an earlier topic that had its name. */
  async list(principal: Principal, topic: string): Promise<Binding[]> {
    const topicResource = await this.ctx.catalog.topic(topic);
    assertMayUse(principal, "topic", topicResource, "consume");
    const bindings = await this.ctx.store.listBindings({ topic });
    return bindings.filter((binding) => binding.topicId === topicResource.definition.id);
  }

  /**
   * Ends a binding: it stops copying, stays listed with `state: "ended"` and
   * `reason`, and no longer holds the topic's retention. Binding the same
   * names again replaces it. For whatever withdraws a binding's footing
   * (an access change: ACCESS_REVOKED); a deleted topic or queue ends its
   * bindings in the store's delete. False if no active binding has these names.
   */
  async end(topic: string, queue: string, reason: string): Promise<boolean> {
    const ended = await this.ctx.store.endBinding(topic, queue, reason, this.ctx.clock.now());
    await this.ctx.owners.bindingRemoved(topic, queue);
    return ended;
  }

  /**
   * Removes a binding, active or ended. The topic's owner, the binding's
   * creator or the owner of the queue it copies into (that very queue, by id)
   * may remove it.
   */
  async unbind(principal: Principal, topic: string, queue: string): Promise<void> {
    assertUnscoped(principal, "remove durable subscriptions");
    const topicResource = await this.ctx.catalog.topic(topic);
    const [binding] = (await this.ctx.store.listBindings({ topic, queue })).filter(
      (candidate) => candidate.topicId === topicResource.definition.id,
    );
    if (binding === undefined) {
      throw new AvisoError("SUBSCRIPTION_NOT_FOUND", `Queue "${queue}" is not bound to topic "${topic}".`);
    }
    const boundQueue = await this.ctx.store.getQueue(queue);
    const allowed =
      topicResource.definition.owner === principal.username ||
      binding.createdBy === principal.username ||
      (boundQueue?.id === binding.queueId && boundQueue.owner === principal.username);
    if (!allowed) {
      throw new AvisoError(
        "NOT_RESOURCE_OWNER",
        "Only the owner of the queue or of the topic may remove this subscription.",
      );
    }
    await this.ctx.store.deleteBinding(topic, queue);
    await this.ctx.owners.bindingRemoved(topic, queue);
  }

  /** The caller's queue of that name, created if absent; its id is what the binding holds. */
  private async ensureOwnQueue(
    principal: Principal,
    queue: string,
    private_: boolean,
  ): Promise<{ created: boolean; id: string }> {
    const existing = await this.ctx.store.getQueue(queue);
    if (existing !== undefined) {
      if (existing.owner !== principal.username) {
        throw new AvisoError(
          "NOT_RESOURCE_OWNER",
          `Queue "${queue}" belongs to "${existing.owner}"; bind a queue you created.`,
        );
      }
      return { created: false, id: existing.id };
    }
    try {
      return {
        created: true,
        id: (await this.queues.create(principal, { name: queue, private: private_ })).id,
      };
    } catch (error) {
      // Created concurrently by the same user is fine.
      if (error instanceof AvisoError && error.reason === "QUEUE_EXISTS") {
        return this.ensureOwnQueue(principal, queue, private_);
      }
      throw error;
    }
  }
}
