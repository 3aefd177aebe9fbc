import { AvisoClientError } from "../errors.ts";
import {
  type TopicMessage,
  type TopicSubscribeOptions,
  TopicSubscription,
} from "../subscriptions/topic-subscription.ts";
import type {
  Binding,
  HistoryPage,
  TopicBatchMessage,
  TopicPublishOptions,
  TopicSettings,
  TopicView,
} from "../types.ts";
import { type ListPage, type PageOptions, pageQuery } from "../util/pages.ts";
import { randomId } from "../util/runtime.ts";
import {
  type ClientContext,
  compact,
  publishOverSocket,
  resourcePath,
  withIdempotencyKey,
} from "./context.ts";
import { nextOf, ResourceApi } from "./resource-api.ts";

/** Topics: manage, publish, read history, bind queues (durable subscriptions) and subscribe live. */
export class TopicsApi extends ResourceApi<TopicView, TopicSettings> {
  /** (topic, pattern) pairs with a live subscription: the node allows one per socket. */
  private readonly live = new Set<string>();

  constructor(context: ClientContext) {
    super(context, "topics");
  }

  /** Publishes one message with an optional routing key; answers its offset once committed. */
  async publish(
    name: string,
    payload: unknown,
    options: TopicPublishOptions = {},
  ): Promise<{ offset: number }> {
    const { via, ...fields } = options;
    const message = withIdempotencyKey(compact({ payload, ...fields }), randomId);
    if ((via ?? this.context.options.publishVia) === "socket") {
      this.context.assertOpen();
      const ok = await publishOverSocket(this.context, { op: "publish", topic: name, ...message });
      return { offset: Number(ok.offset) };
    }
    const answer = await this.servedCall<{ offsets: number[] }>(name, {
      method: "POST",
      rest: "/messages",
      body: message,
    });
    return { offset: answer.offsets[0] as number };
  }

  /** Publishes several messages in one commit (REST); offsets in the same order. */
  publishBatch(name: string, messages: readonly TopicBatchMessage[]): Promise<{ offsets: number[] }> {
    const keyed = messages.map((message) => withIdempotencyKey(compact({ ...message }), randomId));
    return this.servedCall(name, {
      method: "POST",
      rest: "/messages",
      body: { messages: keyed },
    });
  }

  /** Retained messages from `from` (default: the oldest retained), at most `limit` (≤ 1000, default 100). */
  history(name: string, options: { from?: number; limit?: number } = {}): Promise<HistoryPage> {
    const query = new URLSearchParams();
    if (options.from !== undefined) query.set("from", String(options.from));
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    const suffix = query.size === 0 ? "" : `?${query}`;
    return this.call({ method: "GET", path: resourcePath("topics", name, `/messages${suffix}`) });
  }

  /**
   * Durable subscription: copies every message whose key matches `pattern`
   * into `queue` (created if absent, owned by the caller), also while nobody
   * is connected. Consume it like any queue.
   */
  bind(
    topic: string,
    queue: string,
    options: { pattern?: string } = {},
  ): Promise<Binding & { queueCreated: boolean }> {
    return this.call({
      method: "POST",
      path: resourcePath("topics", topic, "/subscriptions"),
      body: compact({ queue, pattern: options.pattern }),
      retry: "unsent-only",
    });
  }

  /** One page of the topic's bindings, by queue name; every page: `eachItem((page) => api.bindings(topic, page))`. */
  async bindings(topic: string, page: PageOptions = {}): Promise<ListPage<Binding>> {
    const answer = await this.call<{ subscriptions: Binding[]; next?: string | null }>({
      method: "GET",
      path: resourcePath("topics", topic, `/subscriptions${pageQuery(page)}`),
    });
    return { items: answer.subscriptions, next: nextOf(answer) };
  }

  /** Removes a binding; the queue stays. */
  async unbind(topic: string, queue: string): Promise<void> {
    await this.call({
      method: "DELETE",
      path: resourcePath("topics", topic, `/subscriptions/${encodeURIComponent(queue)}`),
      retry: "unsent-only",
    });
  }

  /**
   * Live subscription over the client's WebSocket. Remembers the last offset
   * and resumes from the next one after any reconnect, to any node, so no
   * message is missed or repeated; if retention already dropped some, a
   * `gap` event says so. One subscription per (topic, pattern) per client.
   */
  subscribe<P = unknown>(name: string, options: TopicSubscribeOptions<P> = {}): TopicSubscription<P> {
    this.context.assertOpen();
    const key = `${name}\u0000${options.pattern ?? "#"}`;
    if (this.live.has(key)) {
      throw new AvisoClientError({
        code: "already_exists",
        reason: "SUBSCRIPTION_ID_IN_USE",
        message: `This client already subscribes to "${name}" with pattern "${options.pattern ?? "#"}"; share that subscription.`,
      });
    }
    this.live.add(key);
    const { subscriptions } = this.context;
    const subscription = new TopicSubscription<P>(
      this.context.connection,
      name,
      options,
      async () => (await this.get(name)).nextOffset,
      (closed) => {
        subscriptions.delete(closed);
        this.live.delete(key);
      },
    );
    subscriptions.add(subscription);
    return subscription;
  }
}

export type { TopicMessage };
