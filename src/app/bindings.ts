import type { Binding, QueueDefinition } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import {
  assertMaySee,
  assertMayUse,
  assertUnscoped,
  bindingExposure,
  mayKnowCreator,
  maySee,
} from "./access.ts";
import type { Resource } from "./catalog.ts";
import type { AppContext, Principal } from "./context.ts";
import { type Page, type PageRequest, pagerOf } from "./list-page.ts";
import { assertValidName, patternOrEverything } from "./names.ts";
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
export class BindingService {
  constructor(
    private readonly ctx: AppContext,
    private readonly queues: QueueService,
  ) {}

  async bind(
    principal: Principal,
    topic: string,
    input: BindInput,
  ): Promise<{ binding: Binding; queueCreated: boolean }> {
    const pattern = patternOrEverything(input.pattern);
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
    const head = await this.ctx.servingNodes.topics.head(topic);
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
    await this.ctx.servingNodes.bindingCreated(topic, input.queue);
    return { binding, queueCreated };
  }

  /**
   * The topic's bindings, active and ended, not those of an earlier topic that
   * had its name, for a caller who may consume the topic. The topic's creator
   * sees every one (they decide where their topic flows); others see only
   * bindings they created or into queues they may see, so a private queue's
   * binding stays unknown (S7). `createdBy` is shown to the topic's creator,
   * the binding's creator and operators.
   */
  async list(
    principal: Principal,
    topic: string,
    request: PageRequest = {},
  ): Promise<Page<Omit<Binding, "createdBy"> & { createdBy?: string }>> {
    const topicResource = await this.ctx.catalog.topic(topic);
    assertMayUse(principal, "topic", topicResource, "consume");
    const topicCreator = topicResource.definition.creator === principal.username;
    return pagerOf(this.ctx).page(`subscriptions:${topic}`, request, {
      read: (page) => this.ctx.store.pageTopicBindings(topic, page),
      keyOf: (binding: Binding) => binding.queue,
      admit: async (binding): Promise<(Omit<Binding, "createdBy"> & { createdBy?: string }) | undefined> => {
        if (binding.topicId !== topicResource.definition.id) return undefined;
        if (!topicCreator && !(await this.bindingVisible(principal, binding))) return undefined;
        if (topicCreator || mayKnowCreator(principal, binding.createdBy)) return binding;
        const { createdBy: _createdBy, ...rest } = binding;
        return rest;
      },
    });
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
    await this.ctx.servingNodes.bindingRemoved(topic, queue);
    return ended;
  }

  /**
   * Removes a binding, active or ended. The topic's creator, the binding's
   * creator or the creator of the queue it copies into (that very queue, by
   * id) may remove it; to others a binding into a queue they may not see
   * does not exist.
   */
  async unbind(principal: Principal, topic: string, queue: string): Promise<void> {
    assertUnscoped(principal, "remove durable subscriptions");
    const topicResource = await this.ctx.catalog.topic(topic);
    assertMaySee(principal, "topic", topicResource);
    const topicCreator = topicResource.definition.creator === principal.username;
    const [binding] = (await this.ctx.store.listBindings({ topic, queue })).filter(
      (candidate) => candidate.topicId === topicResource.definition.id,
    );
    if (binding === undefined || !(topicCreator || (await this.bindingVisible(principal, binding)))) {
      throw new AvisoError("SUBSCRIPTION_NOT_FOUND", `Queue "${queue}" is not bound to topic "${topic}".`);
    }
    const boundQueue = await this.queueIfAny(queue);
    const allowed =
      topicCreator ||
      binding.createdBy === principal.username ||
      (boundQueue?.definition.id === binding.queueId && boundQueue.definition.creator === principal.username);
    if (!allowed) {
      throw new AvisoError(
        "NOT_RESOURCE_OWNER",
        "Only the creator of the queue or of the topic may remove this subscription.",
      );
    }
    await this.ctx.store.deleteBinding(topic, queue);
    await this.ctx.servingNodes.bindingRemoved(topic, queue);
  }

  /** A binding the caller created, or one into a queue (that very queue, by id) they may see. */
  private async bindingVisible(principal: Principal, binding: Binding): Promise<boolean> {
    if (binding.createdBy === principal.username) return true;
    const resource = await this.queueIfAny(binding.queue);
    return (
      resource !== undefined &&
      resource.definition.id === binding.queueId &&
      maySee(principal.username, resource)
    );
  }

  private async queueIfAny(queue: string): Promise<Resource<QueueDefinition> | undefined> {
    try {
      return await this.ctx.catalog.queue(queue);
    } catch (error) {
      if (error instanceof AvisoError && error.reason === "QUEUE_NOT_FOUND") return undefined;
      throw error;
    }
  }

  /** The caller's queue of that name, created if absent; its id is what the binding holds. */
  private async ensureOwnQueue(
    principal: Principal,
    queue: string,
    private_: boolean,
  ): Promise<{ created: boolean; id: string }> {
    const existing = await this.queueIfAny(queue);
    if (existing !== undefined) {
      if (existing.definition.creator === principal.username)
        return { created: false, id: existing.definition.id };
      // Someone else's queue the caller may not see answers like creating a taken name (S7).
      if (!maySee(principal.username, existing)) throw new AvisoError("QUEUE_EXISTS");
      throw new AvisoError(
        "NOT_RESOURCE_OWNER",
        `Queue "${queue}" was created by someone else; bind a queue you created.`,
      );
    }
    try {
      return {
        created: true,
        id: (await this.queues.create(principal, { name: queue, private: private_ })).id,
      };
    } catch (error) {
      // Created concurrently by the same user is fine.
      if (error instanceof AvisoError && error.reason === "QUEUE_EXISTS") {
        const raced = await this.ctx.store.getQueue(queue);
        if (raced?.creator === principal.username) return { created: false, id: raced.id };
      }
      throw error;
    }
  }
}
