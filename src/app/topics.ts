import { routingKeyProblem } from "../broker/pattern.ts";
import type { StartPosition } from "../broker/topic/topic-fanout.ts";
import type { TopicPublishInput } from "../broker/topic/topic-ports.ts";
import type { TopicDefinition, TopicMessage } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import { watchOf } from "./access-watch.ts";
import type { Principal } from "./context.ts";
import { patternOrEverything } from "./names.ts";
import { type MessageInput, ResourceService } from "./resource-service.ts";

export interface CreateTopicInput {
  name: string;
  private?: boolean;
  durable?: boolean;
  retention?: { maxAgeMs?: number | null; maxMessages?: number | null };
}

export interface TopicMessageInput extends MessageInput {
  key?: string;
}

export interface LiveTopicInput {
  topic: string;
  pattern?: string;
  /** `latest` (default), `earliest` or an offset to replay from. */
  from?: StartPosition;
}

/** The transport's side of a live topic subscription (a WebSocket's today; SSE and MQTT later). */
export interface LiveSubscriber {
  /** Joins this node's fan-out of `topic`; replay and live messages follow. */
  join(topic: string, pattern: string, from: StartPosition): Promise<void>;
  /** False once the subscriber went away (its connection closed) while joining. */
  readonly active: boolean;
  /** Leaves the fan-out quietly. */
  close(): void;
  /** Ends the subscription with a reason the client is told (access withdrawn). */
  end(reason: AvisoError): void;
  /** Runs `hook` when the subscription closes, however it closes. */
  onClose(hook: () => void): void;
}

export interface TopicView extends TopicDefinition {
  nextOffset: number;
  firstOffset: number;
}

/** The message's routing key ("" when absent); INVALID_ROUTING_KEY unless well formed. */
function checkedRoutingKey(key = ""): string {
  const problem = routingKeyProblem(key);
  if (problem !== undefined) throw new AvisoError("INVALID_ROUTING_KEY", `Routing key "${key}": ${problem}.`);
  return key;
}

/** Room one message takes in a history page beyond its payload, headers and key. */
const MESSAGE_OVERHEAD_BYTES = 128;

/** The longest prefix of `messages` within maxResponseBytes (at least one message). */
function boundedPage(messages: TopicMessage[], config: { maxResponseBytes: number }): TopicMessage[] {
  let bytes = 0;
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index] as TopicMessage;
    bytes +=
      Buffer.byteLength(message.payload) +
      (message.headers === null ? 0 : Buffer.byteLength(message.headers)) +
      Buffer.byteLength(message.key) +
      MESSAGE_OVERHEAD_BYTES;
    if (index > 0 && bytes > config.maxResponseBytes) return messages.slice(0, index);
  }
  return messages;
}

export interface HistoryPage {
  messages: TopicMessage[];
  /** False when retention already dropped part of what was asked for. */
  complete: boolean;
  firstOffset: number;
  nextOffset: number;
}

/** The v1 topic operations, whichever transport calls them. */
export class TopicService extends ResourceService<"topic", TopicView> {
  protected readonly kind = "topic";

  async create(principal: Principal, input: CreateTopicInput): Promise<TopicView> {
    const { config, store } = this.ctx;
    const { retention } = input;
    const settings = async () => ({
      durable: input.durable ?? true,
      retention: {
        maxAgeMs: retention?.maxAgeMs === undefined ? config.topicDefaultMaxAgeMs : retention.maxAgeMs,
        maxMessages:
          retention?.maxMessages === undefined ? config.topicDefaultMaxMessages : retention.maxMessages,
      },
    });
    const definition = await this.createDefinition(principal, input, settings, (created) =>
      store.createTopic(created),
    );
    return { ...definition, nextOffset: 0, firstOffset: 0 };
  }

  publish(principal: Principal, name: string, messages: readonly TopicMessageInput[]): Promise<number[]> {
    return this.publishMessages(
      principal,
      name,
      messages,
      (message) => this.prepare(principal, message),
      (inputs) => this.ctx.servingNodes.topics.publish(name, inputs),
    );
  }

  /** One message encoded and checked on its own (its refusal is its alone), for publishPrepared. */
  prepare(principal: Principal, message: TopicMessageInput): TopicPublishInput {
    return this.encodeMessage<TopicPublishInput>(principal, message, { key: checkedRoutingKey(message.key) });
  }

  /** Prepared messages published together, one offset or refusal each, in order (publishEach). */
  publishPrepared(
    principal: Principal,
    name: string,
    inputs: readonly TopicPublishInput[],
  ): Promise<(number | AvisoError)[]> {
    return this.publishEach(principal, name, inputs, (charged) =>
      this.ctx.servingNodes.topics.publish(name, charged),
    );
  }

  async history(
    principal: Principal,
    name: string,
    from: number | undefined,
    limit: number,
  ): Promise<HistoryPage> {
    await this.authorize(principal, name, "consume");
    const feed = await this.ctx.servingNodes.topics.feed(name);
    const firstOffset = feed.firstOffset();
    const nextOffset = feed.nextOffset();
    const start = from ?? firstOffset;
    if (start > nextOffset) {
      throw new AvisoError(
        "OFFSET_OUT_OF_RANGE",
        `Offset ${start} is beyond the next offset ${nextOffset}.`,
        {
          details: { nextOffset },
        },
      );
    }
    const messages = boundedPage(await feed.read(Math.max(start, firstOffset), limit), this.ctx.config);
    const complete = start >= firstOffset && (messages[0] === undefined || messages[0].offset === start);
    return { messages, complete, firstOffset, nextOffset };
  }

  /**
   * A live subscription, whichever door it came through: the pattern is
   * checked (`#` by default), the start defaults to `latest`, the caller must
   * be allowed to consume, then the subscriber joins this node's fan-out and
   * is ended once that permission goes (docs/security.md S2).
   */
  async subscribeLive(
    principal: Principal,
    input: LiveTopicInput,
    subscriber: LiveSubscriber,
  ): Promise<void> {
    const pattern = patternOrEverything(input.pattern);
    const resource = await this.authorize(principal, input.topic, "consume");
    await subscriber.join(input.topic, pattern, input.from ?? "latest");
    if (!subscriber.active) {
      subscriber.close();
      return;
    }
    const end = (reason: AvisoError) => subscriber.end(reason);
    subscriber.onClose(
      this.ctx.access.watch({ ...watchOf(principal, "topic", resource.definition, "consume"), end }),
    );
  }

  protected async view(definition: TopicDefinition): Promise<TopicView> {
    const head = await this.ctx.servingNodes.topics.head(definition.name);
    return { ...definition, nextOffset: head.nextOffset, firstOffset: head.firstOffset };
  }
}
