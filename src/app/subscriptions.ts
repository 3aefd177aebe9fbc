import { patternProblem } from "../broker/pattern.ts";
import type { Binding, QueueDefinition } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import { assertMaySee, assertMayUse, bindingExposure, mayKnowCreator, maySee } from "./access.ts";
import type { Resource } from "./catalog.ts";
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
    const topicResource = await this.ctx.catalog.topic(topic);
    assertMayUse(principal.username, "topic", topicResource, "consume");
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

  /**
   * Bindings of a topic the caller may consume. The topic's creator sees
   * every one (they decide where their topic flows); others see only
   * bindings into queues they may see, so a private queue's binding stays
   * unknown (S7). `createdBy` is shown to the topic's creator, the binding's
   * creator and operators.
   */
  async list(
    principal: Principal,
    topic: string,
  ): Promise<Array<Omit<Binding, "createdBy"> & { createdBy?: string }>> {
    const topicResource = await this.ctx.catalog.topic(topic);
    assertMayUse(principal.username, "topic", topicResource, "consume");
    const topicCreator = topicResource.definition.owner === principal.username;
    const listed = [];
    for (const binding of await this.ctx.store.listBindings({ topic })) {
      if (!topicCreator && !(await this.queueVisible(principal, binding.queue))) continue;
      if (topicCreator || mayKnowCreator(principal, binding.createdBy)) listed.push(binding);
      else {
        const { createdBy: _createdBy, ...rest } = binding;
        listed.push(rest);
      }
    }
    return listed;
  }

  /** The queue's owner or the topic's owner may remove a binding; to others a binding into a queue they may not see does not exist. */
  async unbind(principal: Principal, topic: string, queue: string): Promise<void> {
    const topicResource = await this.ctx.catalog.topic(topic);
    assertMaySee(principal.username, "topic", topicResource);
    const topicCreator = topicResource.definition.owner === principal.username;
    const bindings = await this.ctx.store.listBindings({ topic, queue });
    if (bindings.length === 0 || !(topicCreator || (await this.queueVisible(principal, queue)))) {
      throw new AvisoError("SUBSCRIPTION_NOT_FOUND", `Queue "${queue}" is not bound to topic "${topic}".`);
    }
    const queueDefinition = await this.ctx.store.getQueue(queue);
    if (!topicCreator && queueDefinition?.owner !== principal.username) {
      throw new AvisoError(
        "NOT_RESOURCE_OWNER",
        "Only the creator of the queue or of the topic may remove this subscription.",
      );
    }
    await this.ctx.store.deleteBinding(topic, queue);
    await this.ctx.owners.bindingRemoved(topic, queue);
  }

  private async queueVisible(principal: Principal, queue: string): Promise<boolean> {
    const resource = await this.queueIfAny(queue);
    return resource !== undefined && maySee(principal.username, resource);
  }

  private async queueIfAny(queue: string): Promise<Resource<QueueDefinition> | undefined> {
    try {
      return await this.ctx.catalog.queue(queue);
    } catch (error) {
      if (error instanceof AvisoError && error.reason === "QUEUE_NOT_FOUND") return undefined;
      throw error;
    }
  }

  private async ensureOwnQueue(principal: Principal, queue: string, private_: boolean): Promise<boolean> {
    const existing = await this.queueIfAny(queue);
    if (existing !== undefined) {
      if (existing.definition.owner === principal.username) return false;
      // Someone else's queue the caller may not see answers like creating a taken name (S7).
      if (!maySee(principal.username, existing)) throw new AvisoError("QUEUE_EXISTS");
      throw new AvisoError(
        "NOT_RESOURCE_OWNER",
        `Queue "${queue}" was created by someone else; bind a queue you created.`,
      );
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
